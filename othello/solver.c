/* Exact 6x6 Othello solver for othello/solver.py: negamax alpha-beta over bitboards.
 *
 * A position is (P, O): the discs of the side to move and of its opponent, bit i = square
 * 6*row + col, as in othello/bitboard.py. A value is the final disc difference P - O under
 * perfect play, empty squares counting for nobody. Every search is fail-soft: inside the window
 * (alpha, beta) the value is exact; outside it, a bound on the same side.
 *
 * What makes it fast (the start position, 32 empties, in about 68 s of one core of a quiet 2-core
 * machine, where the solver before these took over 13 minutes for one 28-empty position):
 * - exact values come from null-window tests (MTD(f), Plaat et al. 1996), each as cheap as a
 *   win/loss test, their bounds kept in a transposition table between the tests;
 * - the table (two entries per bucket: the deepest and the newest) keeps lower and upper
 *   bounds and the best move, and is probed for every child before searching any of them
 *   (enhanced transposition cutoff, Plaat et al. 1996);
 * - above SHALLOW empties the table's move comes first, the others sorted by a shallow search
 *   of a midgame evaluation (2 to 6 plies, deeper further from the end), or fastest first
 *   (fewest opponent replies) near the end, moves the table proves useless last; below SHALLOW,
 *   by quadrant parity and square class with no move generation: the empty squares are tried one
 *   by one, the last 3 by dedicated code;
 * - far from the end, positions are stored up to the board's 8 symmetries;
 * - a side whose opponent owns s stable discs cannot end above 36 - 2s (stability cutoff);
 * - the table lies on huge pages where the system grants them (fewer TLB misses).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef uint64_t u64;

#define FULL 0xFFFFFFFFFULL
#define COL_A 0x041041041ULL
#define COL_F 0x820820820ULL
#define INNER_COLS 0x79E79E79EULL   /* columns b-e: a run along a row or diagonal never wraps */
#define ROWS_1_6 0xFC000003FULL
#define BORDER 0xFE186187FULL
#define CORNERS 0x840000021ULL
#define X_SQUARES 0x012000480ULL    /* diagonally next to a corner */
#define C_SQUARES 0x4A1000852ULL    /* next to a corner along an edge */
#define MAX_VALUE 64                /* above any disc difference */
/* Each threshold is about where its technique starts to pay for its cost. Measured on six
 * positions of 26 empties, SHALLOW 6 or 8 and SORT_2_EMPTIES 10 were each 6-15% slower. */
#define SHALLOW 7                   /* at most this many empties: no table, no move generation */
#define STABILITY_EMPTIES 9         /* the stability cutoff is tried from this many empties up */
#define ETC_EMPTIES 12              /* enhanced transposition cutoff from this many empties up */
#define SYM_EMPTIES 24              /* positions keyed up to symmetry from this many empties up */
#define SORT_2_EMPTIES 12           /* moves ordered by a 2-ply search from this many empties up, */
#define SORT_4_EMPTIES 15           /* a 4-ply one from this many, */
#define SORT_6_EMPTIES 19           /* a 6-ply one from this many */
#define BUCKET_BITS 22              /* 2^22 buckets of two 16-byte entries: 128 MiB */

#define popcount __builtin_popcountll
#define first_bit __builtin_ctzll

static const u64 QUADRANTS[4] = {0x0000071C7ULL, 0x000038E38ULL, 0x1C71C0000ULL, 0xE38E00000ULL};
/* Square classes in the order shallow nodes try them: corners, then the plain squares, then
 * the squares that give a corner away. */
static const u64 CLASSES[3] = {CORNERS, FULL & ~(CORNERS | X_SQUARES | C_SQUARES), C_SQUARES | X_SQUARES};

/* --- move generation: runs of at most 4 opponent discs, in both senses of a line --- */
static inline u64 line_moves(u64 P, u64 m, int s) {
    u64 l = m & (P << s), r = m & (P >> s);
    l |= m & (l << s), r |= m & (r >> s);
    l |= m & (l << s), r |= m & (r >> s);
    l |= m & (l << s), r |= m & (r >> s);
    return (l << s) | (r >> s);
}

static inline u64 legal_moves(u64 P, u64 O) {
    u64 m = O & INNER_COLS;
    return (line_moves(P, m, 1) | line_moves(P, O, 6) | line_moves(P, m, 7) | line_moves(P, m, 5)) & ~(P | O) & FULL;
}

/* The squares beyond each square in each direction: RAYS_UP along increasing bit indices
 * (east, south-west, south, south-east), RAYS_DOWN along decreasing ones. */
static u64 RAYS_UP[36][4], RAYS_DOWN[36][4], NEIGHBOURS[36];

static void init_rays(void) {
    static const int DR[4] = {0, 1, 1, 1}, DC[4] = {1, -1, 0, 1};
    for (int sq = 0; sq < 36; sq++) {
        NEIGHBOURS[sq] = 0;
        for (int d = 0; d < 4; d++) {
            RAYS_UP[sq][d] = RAYS_DOWN[sq][d] = 0;
            for (int sense = 1; sense >= -1; sense -= 2) {
                int r = sq / 6 + sense * DR[d], c = sq % 6 + sense * DC[d];
                if (r >= 0 && r < 6 && c >= 0 && c < 6) NEIGHBOURS[sq] |= 1ULL << (6 * r + c);
                for (; r >= 0 && r < 6 && c >= 0 && c < 6; r += sense * DR[d], c += sense * DC[d]) {
                    if (sense > 0) RAYS_UP[sq][d] |= 1ULL << (6 * r + c);
                    else RAYS_DOWN[sq][d] |= 1ULL << (6 * r + c);
                }
            }
        }
    }
}

/* The opponent discs that a disc placed on square sq flips (0: sq is not a legal move). Along
 * each ray the run of opponent discs ends at the nearest square that is not the opponent's:
 * the lowest such bit on an increasing ray, the highest on a decreasing one; the run flips
 * when that square is ours. */
static inline u64 flips(int sq, u64 P, u64 O) {
    u64 f = 0, not_O = ~O;
    for (int d = 0; d < 4; d++) {
        u64 ray = RAYS_UP[sq][d], end = not_O & ray;
        end &= -end;
        f |= (end - 1) & ray & -(u64)((end & P) != 0);
        ray = RAYS_DOWN[sq][d];
        end = 1ULL << (63 - __builtin_clzll((not_O & ray) | 1));  /* | 1: bit 0 when the ray is all O */
        f |= ray & -(end << 1) & -(u64)((end & P & ray) != 0);
    }
    return f;
}

/* --- stability: discs of P that no sequence of moves can flip (a sound under-estimate) --- */
static u64 DIAGONALS_7[11], DIAGONALS_5[11];  /* the lines along +7 (down-right), +5 (down-left) */

static void init_diagonals(void) {
    for (int d = 0; d < 11; d++) {
        DIAGONALS_7[d] = DIAGONALS_5[d] = 0;
        for (int r = 0; r < 6; r++) {
            int c7 = r - 5 + d, c5 = d - r;  /* col - row constant / col + row constant */
            if (c7 >= 0 && c7 < 6) DIAGONALS_7[d] |= 1ULL << (6 * r + c7);
            if (c5 >= 0 && c5 < 6) DIAGONALS_5[d] |= 1ULL << (6 * r + c5);
        }
    }
}

static u64 stable_discs(u64 P, u64 O) {
    u64 filled = P | O, full_h = 0, full_v = 0, full_7 = 0, full_5 = 0;
    for (int r = 0; r < 6; r++) {
        u64 row = 0x3FULL << (6 * r), col = COL_A << r;
        if ((filled & row) == row) full_h |= row;
        if ((filled & col) == col) full_v |= col;
    }
    for (int d = 0; d < 11; d++) {
        if ((filled & DIAGONALS_7[d]) == DIAGONALS_7[d]) full_7 |= DIAGONALS_7[d];
        if ((filled & DIAGONALS_5[d]) == DIAGONALS_5[d]) full_5 |= DIAGONALS_5[d];
    }
    /* A disc is safe along a line when the line is full, it lies on the board's edge across
     * the line, or a stable disc of its colour is next to it on the line. Shifted bits that
     * wrap a row land on the edge columns, which are safe anyway along rows and diagonals. */
    u64 stable = 0, previous;
    do {
        previous = stable;
        u64 h = full_h | COL_A | COL_F | (stable << 1) | (stable >> 1);
        u64 v = full_v | ROWS_1_6 | (stable << 6) | (stable >> 6);
        u64 d7 = full_7 | BORDER | (stable << 7) | (stable >> 7);
        u64 d5 = full_5 | BORDER | (stable << 5) | (stable >> 5);
        stable = P & h & v & d7 & d5;
    } while (stable != previous);
    return stable;
}

/* --- the transposition table --- */
typedef struct { u64 key_and_data, theirs; } Entry;  /* P | empties << 36 | move << 42 | lower+64 << 48 | upper+64 << 56 */
static Entry *table;
static u64 node_count;

#define ENTRY_MINE(e) ((e)->key_and_data & FULL)
#define ENTRY_EMPTIES(e) ((int)((e)->key_and_data >> 36 & 63))
#define ENTRY_MOVE(e) ((int)((e)->key_and_data >> 42 & 63))
#define ENTRY_LOWER(e) ((int)((e)->key_and_data >> 48 & 255) - 64)
#define ENTRY_UPPER(e) ((int)((e)->key_and_data >> 56) - 64)
#define NO_MOVE 63
#define PROVEN_LOW 1000  /* added to the order key of a move the table proves cannot raise alpha */

static inline Entry *bucket(u64 P, u64 O) {
    u64 hash = P * 0x9E3779B97F4A7C15ULL + O * 0xC2B2AE3D27D4EB4FULL;
    return table + 2 * (hash >> (64 - BUCKET_BITS));
}

static inline Entry *probe(u64 P, u64 O) {
    Entry *e = bucket(P, O);
    if (ENTRY_MINE(e) == P && e->theirs == O) return e;
    if (ENTRY_MINE(e + 1) == P && e[1].theirs == O) return e + 1;
    return NULL;
}

static inline u64 pack(u64 P, int empties, int move, int lower, int upper) {
    return P | (u64)empties << 36 | (u64)move << 42 | (u64)(lower + 64) << 48 | (u64)(upper + 64) << 56;
}

/* Record that the value of (P, O) lies in [lower, upper]; an entry already there for the
 * position keeps the tighter of the two bounds on each side. Slot 0 of a bucket holds the
 * deepest position (the most work to redo), slot 1 the newest. */
static void store(u64 P, u64 O, int empties, int move, int lower, int upper) {
    Entry *e = bucket(P, O), *same = NULL;
    if (ENTRY_MINE(e) == P && e->theirs == O) same = e;
    else if (ENTRY_MINE(e + 1) == P && e[1].theirs == O) same = e + 1;
    if (same) {
        if (ENTRY_LOWER(same) > lower) lower = ENTRY_LOWER(same);
        if (ENTRY_UPPER(same) < upper) upper = ENTRY_UPPER(same);
        if (move == NO_MOVE) move = ENTRY_MOVE(same);
        same->key_and_data = pack(P, empties, move, lower, upper);
        return;
    }
    if (empties >= ENTRY_EMPTIES(e)) e[1] = e[0];
    else e++;
    e->key_and_data = pack(P, empties, move, lower, upper), e->theirs = O;
}

/* --- the last empty squares --- */
static inline int final_score(u64 P, u64 O) { return popcount(P) - popcount(O); }

static int solve_1(u64 P, u64 O, u64 x) {
    node_count++;
    int score = 2 * popcount(P) - 35;  /* 35 discs on the board */
    u64 f = flips(first_bit(x), P, O);
    if (f) return score + 2 * popcount(f) + 1;
    if ((f = flips(first_bit(x), O, P))) return score - 2 * popcount(f) - 1;
    return score;
}

static int solve_2(u64 P, u64 O, int alpha, int beta, u64 x1, u64 x2, int passed) {
    node_count++;
    int best = -MAX_VALUE, value;
    u64 f;
    if ((f = flips(first_bit(x1), P, O))) {
        if ((best = -solve_1(O & ~f, P | f | x1, x2)) >= beta) return best;
    }
    if ((f = flips(first_bit(x2), P, O))) {
        if ((value = -solve_1(O & ~f, P | f | x2, x1)) > best) best = value;
    }
    if (best > -MAX_VALUE) return best;
    if (passed) return final_score(P, O);
    return -solve_2(O, P, -beta, -alpha, x1, x2, 1);
}

static int solve_3(u64 P, u64 O, int alpha, int beta, u64 x1, u64 x2, u64 x3, int passed) {
    node_count++;
    int best = -MAX_VALUE, value;
    u64 f;
    if ((f = flips(first_bit(x1), P, O))) {
        if ((best = -solve_2(O & ~f, P | f | x1, -beta, -alpha, x2, x3, 0)) >= beta) return best;
    }
    if ((f = flips(first_bit(x2), P, O))) {
        int bound = alpha > best ? alpha : best;
        if ((value = -solve_2(O & ~f, P | f | x2, -beta, -bound, x1, x3, 0)) > best && (best = value) >= beta) return best;
    }
    if ((f = flips(first_bit(x3), P, O))) {
        int bound = alpha > best ? alpha : best;
        if ((value = -solve_2(O & ~f, P | f | x3, -beta, -bound, x1, x2, 0)) > best) best = value;
    }
    if (best > -MAX_VALUE) return best;
    if (passed) return final_score(P, O);
    return -solve_3(O, P, -beta, -alpha, x1, x2, x3, 1);
}

/* Squares in odd quadrants first: the last move of a region is a move the opponent cannot
 * answer there (parity, as in every strong endgame solver). */
static inline u64 odd_quadrants(u64 empty) {
    u64 odd = 0;
    for (int q = 0; q < 4; q++)
        if (popcount(empty & QUADRANTS[q]) & 1) odd |= QUADRANTS[q];
    return odd;
}

static int search_shallow(u64 P, u64 O, int alpha, int beta, int passed) {
    u64 empty = ~(P | O) & FULL;
    int empties = popcount(empty);
    u64 odd = odd_quadrants(empty);
    if (empties == 3) {  /* the square alone in its quadrant first */
        u64 x1 = empty & odd ? (empty & odd & -(empty & odd)) : (empty & -empty), rest = empty ^ x1;
        u64 x2 = rest & -rest, x3 = rest ^ x2;
        return solve_3(P, O, alpha, beta, x1, x2, x3, passed);
    }
    node_count++;
    int best = -MAX_VALUE;
    for (int parity = 0; parity < 2; parity++) {
        for (int c = 0; c < 3; c++) {
            u64 squares = empty & CLASSES[c] & (parity ? ~odd : odd);
            while (squares) {
                u64 x = squares & -squares, f;
                squares ^= x;
                if (!(NEIGHBOURS[first_bit(x)] & O) || !(f = flips(first_bit(x), P, O))) continue;
                int value = -search_shallow(O & ~f, P | f | x, -beta, -(alpha > best ? alpha : best), 0);
                if (value > best && (best = value) >= beta) return best;
            }
        }
    }
    if (best > -MAX_VALUE) return best;
    if (passed) return final_score(P, O);
    return -search_shallow(O, P, -beta, -alpha, 1);
}

/* --- move ordering above SHALLOW empties --- */

/* Alpha-beta cuts the most when the best move comes first (Knuth & Moore 1975). Fewest replies
 * for the opponent ("fastest first", the usual endgame order) is a cheap guess at it, a reply on
 * a corner counting 1.5, a corner of ours a little earlier and an X square a little later (5%
 * fewer nodes than the replies alone): the lower the key the earlier the move. */
static inline int move_key(u64 child_P, u64 child_O, u64 x) {
    u64 replies = legal_moves(child_P, child_O);
    return 4 * popcount(replies) + 2 * popcount(replies & CORNERS) - (x & CORNERS ? 3 : 0) + (x & X_SQUARES ? 2 : 0);
}

/* A midgame evaluation for the side to move, for ordering only: mobility, corners, and X
 * squares given away while their corner is empty. */
static int evaluate(u64 P, u64 O) {
    u64 empty_corners = CORNERS & ~(P | O);
    u64 risky = 0;  /* X squares next to an empty corner */
    if (empty_corners & 1ULL) risky |= 1ULL << 7;
    if (empty_corners & (1ULL << 5)) risky |= 1ULL << 10;
    if (empty_corners & (1ULL << 30)) risky |= 1ULL << 25;
    if (empty_corners & (1ULL << 35)) risky |= 1ULL << 28;
    return 4 * (popcount(legal_moves(P, O)) - popcount(legal_moves(O, P)))
        + 12 * (popcount(P & CORNERS) - popcount(O & CORNERS)) - 6 * (popcount(P & risky) - popcount(O & risky));
}

/* Plain alpha-beta over the evaluation, `depth` plies deep (a finished game scores far beyond it). */
static int eval_search(u64 P, u64 O, int depth, int alpha, int beta) {
    if (depth == 0) return evaluate(P, O);
    u64 moves = legal_moves(P, O);
    if (!moves) {
        if (!legal_moves(O, P)) return 1000 * final_score(P, O);
        return -eval_search(O, P, depth, -beta, -alpha);
    }
    int best = -100000;
    for (int c = 0; c < 3; c++) {  /* corners first, the squares that give one away last: a third fewer nodes */
        for (u64 squares = moves & CLASSES[c]; squares; squares &= squares - 1) {
            u64 x = squares & -squares, f = flips(first_bit(x), P, O);
            int v = -eval_search(O & ~f, P | f | x, depth - 1, -beta, -(alpha > best ? alpha : best));
            if (v > best && (best = v) >= beta) return best;
        }
    }
    return best;
}

/* --- symmetry: far from the end, positions are keyed in the table by the least of their 8
 * images under the square's symmetries, so that mirrored lines (the start position's four
 * moves are one move) are searched once --- */
static int SYM[8][36], SYM_INV[8][36];

static void init_symmetries(void) {
    for (int k = 0; k < 8; k++) {
        for (int sq = 0; sq < 36; sq++) {
            int r = sq / 6, c = sq % 6, t;
            if (k & 1) c = 5 - c;
            if (k & 2) r = 5 - r;
            if (k & 4) t = r, r = c, c = t;
            SYM[k][sq] = 6 * r + c;
            SYM_INV[k][6 * r + c] = sq;
        }
    }
}

static u64 transform(u64 b, int k) {
    u64 t = 0;
    for (; b; b &= b - 1) t |= 1ULL << SYM[k][first_bit(b)];
    return t;
}

/* Replace (P, O) by its least image and return the symmetry k that maps it there. */
static int canonical(u64 *P, u64 *O) {
    int best = 0;
    u64 best_P = *P, best_O = *O;
    for (int k = 1; k < 8; k++) {
        u64 tP = transform(*P, k), tO = transform(*O, k);
        if (tP < best_P || (tP == best_P && tO < best_O)) best_P = tP, best_O = tO, best = k;
    }
    *P = best_P, *O = best_O;
    return best;
}

static inline Entry *lookup(u64 P, u64 O, int empties) {
    if (empties >= SYM_EMPTIES) canonical(&P, &O);
    return probe(P, O);
}

static int search(u64 P, u64 O, int alpha, int beta, int passed) {
    int empties = 36 - popcount(P | O);
    if (empties <= SHALLOW) return search_shallow(P, O, alpha, beta, passed);
    node_count++;
    u64 moves = legal_moves(P, O);
    if (!moves) {
        if (passed) return final_score(P, O);
        return -search(O, P, -beta, -alpha, 1);
    }
    if (empties >= STABILITY_EMPTIES && alpha >= 36 - 2 * popcount(O)) {  /* cheap test first */
        int upper = 36 - 2 * popcount(stable_discs(O, P));
        if (upper <= alpha) return upper;
    }
    int table_move = NO_MOVE, sym = 0;
    u64 key_P = P, key_O = O;
    if (empties >= SYM_EMPTIES) sym = canonical(&key_P, &key_O);
    Entry *e = probe(key_P, key_O);
    if (e) {
        int lower = ENTRY_LOWER(e), upper = ENTRY_UPPER(e);
        if (lower >= beta) return lower;
        if (upper <= alpha || lower == upper) return upper;
        if (lower > alpha) alpha = lower;
        if (upper < beta) beta = upper;
        if (ENTRY_MOVE(e) != NO_MOVE) table_move = SYM_INV[sym][ENTRY_MOVE(e)];
    }
    /* The children in move_key's order; from SORT_2_EMPTIES up, sorted again below by a shallow
     * search, deeper the more empties are left (the subtree below is larger, so the ordering
     * search is a smaller part of the work). */
    int sort_depth = empties >= SORT_6_EMPTIES ? 6 : empties >= SORT_4_EMPTIES ? 4 : empties >= SORT_2_EMPTIES ? 2 : 0;
    u64 next_P[32], next_O[32];
    int keys[32], squares[32], count = 0;
    while (moves) {
        u64 x = moves & -moves, f = flips(first_bit(x), P, O);
        moves ^= x;
        u64 child_P = O & ~f, child_O = P | f | x;
        int square = first_bit(x), key = move_key(child_P, child_O, x);
        if (empties >= ETC_EMPTIES) {
            Entry *c = lookup(child_P, child_O, empties - 1);
            if (c && -ENTRY_UPPER(c) >= beta) {  /* this move alone already refutes the window */
                int value = -ENTRY_UPPER(c);
                store(key_P, key_O, empties, SYM[sym][square], value, MAX_VALUE);
                return value;
            }
            if (c && -ENTRY_LOWER(c) <= alpha) key += PROVEN_LOW;  /* last, and not worth an ordering search */
        }
        int i = count++;
        for (; i > 0 && keys[i - 1] > key; i--) {
            next_P[i] = next_P[i - 1], next_O[i] = next_O[i - 1], keys[i] = keys[i - 1], squares[i] = squares[i - 1];
        }
        next_P[i] = child_P, next_O[i] = child_O, keys[i] = key, squares[i] = square;
    }
    if (sort_depth) {  /* sort again by a shallow search, in the first order, bounded by the best so far */
        int best_eval = 100000;  /* the least child value so far */
        for (int i = 0; i < count; i++) {
            if (keys[i] >= PROVEN_LOW) {
                keys[i] = 200000;
                continue;
            }
            keys[i] = eval_search(next_P[i], next_O[i], sort_depth - 1, -100000, best_eval);
            if (keys[i] < best_eval) best_eval = keys[i];
        }
        for (int i = 1; i < count; i++) {
            u64 p = next_P[i], o = next_O[i];
            int k = keys[i], sq = squares[i], j = i;
            for (; j > 0 && keys[j - 1] > k; j--) {
                next_P[j] = next_P[j - 1], next_O[j] = next_O[j - 1], keys[j] = keys[j - 1], squares[j] = squares[j - 1];
            }
            next_P[j] = p, next_O[j] = o, keys[j] = k, squares[j] = sq;
        }
    }
    for (int i = 1; i < count; i++) {  /* the table's move first */
        if (squares[i] != table_move) continue;
        u64 p = next_P[i], o = next_O[i];
        for (int j = i; j > 0; j--) next_P[j] = next_P[j - 1], next_O[j] = next_O[j - 1], squares[j] = squares[j - 1];
        next_P[0] = p, next_O[0] = o, squares[0] = table_move;
        break;
    }
    int best = -MAX_VALUE, best_move = NO_MOVE;
    for (int i = 0; i < count; i++) {
        int bound = alpha > best ? alpha : best, value;
        if (i == 0 || beta == bound + 1) {
            value = -search(next_P[i], next_O[i], -beta, -bound, 0);
        } else {  /* principal variation search: prove the move no better with a null window */
            value = -search(next_P[i], next_O[i], -bound - 1, -bound, 0);
            if (value > bound && value < beta) value = -search(next_P[i], next_O[i], -beta, -value, 0);
        }
        if (value > best) {
            best = value, best_move = squares[i];
            if (best >= beta) break;
        }
    }
    store(key_P, key_O, empties, best_move == NO_MOVE ? NO_MOVE : SYM[sym][best_move], best > alpha ? best : -MAX_VALUE, best < beta ? best : MAX_VALUE);
    return best;
}

static int ensure_table(void) {
    if (!table) {
        init_diagonals();
        init_rays();
        init_symmetries();
        /* The table on huge pages where the system grants them: its probes land anywhere in
         * 128 MiB, and with 4 KiB pages most of them also miss the TLB (10% of the time). */
        size_t bytes = (2ULL << BUCKET_BITS) * sizeof(Entry);
        void *memory;
        if (posix_memalign(&memory, 1 << 21, bytes)) return 0;
#ifdef MADV_HUGEPAGE
        madvise(memory, bytes, MADV_HUGEPAGE);
#endif
        memset(memory, 0, bytes);
        table = memory;
    }
    return 1;
}

/* Value of the position for the side to move, exact inside (alpha, beta), else a bound on the
 * same side. Returns -1000 if the table cannot be allocated. */
int solve(u64 P, u64 O, int alpha, int beta) {
    if (!ensure_table()) return -1000;
    return search(P, O, alpha, beta, 0);
}

/* The exact value by MTD(f): null-window tests that close in on it from the table's bounds,
 * starting from `guess`. Returns -1000 if the table cannot be allocated. */
int solve_exact(u64 P, u64 O, int guess) {
    if (!ensure_table()) return -1000;
    int lower = -MAX_VALUE, upper = MAX_VALUE;
    while (lower < upper) {
        int beta = guess == lower ? guess + 1 : guess;
        guess = search(P, O, beta - 1, beta, 0);
        if (guess < beta) upper = guess;
        else lower = guess;
    }
    return lower;
}

/* Nodes searched since the library was loaded, for benchmarks. */
u64 nodes(void) { return node_count; }

/* Forget every stored bound (for timing a cold solve). */
void clear_table(void) {
    if (table) for (u64 i = 0; i < 2ULL << BUCKET_BITS; i++) table[i].key_and_data = table[i].theirs = 0;
}
