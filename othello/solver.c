/* Exact 6x6 Othello solver: negamax alpha-beta over bitboards, for othello/solver.py.
 *
 * A position is (mine, theirs) from the side to move's view, bit i = square 6*row + col, as in
 * othello/bitboard.py. The value is the final disc difference (mine minus theirs, empty squares
 * counting for nobody) under perfect play. Searching with the window (-1, 1) only decides the
 * outcome, which is about ten times faster than the exact value.
 *
 * Pure Python would need hours for an opening position (about 10^9 nodes for 28 empties); in C
 * it is under a minute. Search: principal-variation search, a transposition table of bounds
 * with the best move, fastest-first move ordering (fewest opponent replies first, corners
 * early) above SHALLOW empties, plain alpha-beta below it.
 */
#include <stdint.h>
#include <stdlib.h>

typedef uint64_t u64;

#define FULL ((1ULL << 36) - 1)
#define NOT_FIRST_COL 0xFBEFBEFBEULL /* masks bits that wrapped from the last column */
#define NOT_LAST_COL 0x7DF7DF7DFULL  /* masks bits that wrapped from the first column */
#define CORNERS 0x840000021ULL
#define SHALLOW 7
#define TABLE_BITS 22
#define MAX_VALUE 64

static const int SHIFTS[8] = {1, -1, 6, -6, 7, 5, -5, -7};
static const u64 MASKS[8] = {NOT_FIRST_COL, NOT_LAST_COL, FULL, FULL,
                             NOT_FIRST_COL, NOT_LAST_COL, NOT_FIRST_COL, NOT_LAST_COL};

static inline u64 shift(u64 x, int d) {
    return (SHIFTS[d] > 0 ? x << SHIFTS[d] : x >> -SHIFTS[d]) & MASKS[d];
}

/* Opponent discs in direction d starting next to `from` (at most 4 in a row of 6). */
static inline u64 run_of(u64 from, u64 theirs, int d) {
    u64 run = shift(from, d) & theirs;
    run |= shift(run, d) & theirs;
    run |= shift(run, d) & theirs;
    run |= shift(run, d) & theirs;
    return run;
}

u64 legal_moves(u64 mine, u64 theirs) {
    u64 empty = ~(mine | theirs) & FULL, moves = 0;
    for (int d = 0; d < 8; d++) moves |= shift(run_of(mine, theirs, d), d) & empty;
    return moves;
}

u64 flips(u64 mine, u64 theirs, u64 move) {
    u64 flipped = 0;
    for (int d = 0; d < 8; d++) {
        u64 run = run_of(move, theirs, d);
        if (shift(run, d) & mine) flipped |= run;
    }
    return flipped;
}

typedef struct { u64 mine, theirs; int8_t lower, upper, best_move; } Entry;
static Entry *table;

static inline int disc_difference(u64 mine, u64 theirs) {
    return __builtin_popcountll(mine) - __builtin_popcountll(theirs);
}

static int search_shallow(u64 mine, u64 theirs, int alpha, int beta, int passed) {
    u64 moves = legal_moves(mine, theirs);
    if (!moves) {
        if (passed) return disc_difference(mine, theirs);
        return -search_shallow(theirs, mine, -beta, -alpha, 1);
    }
    int best = -MAX_VALUE;
    while (moves) {
        u64 move = moves & -moves, flipped = flips(mine, theirs, move);
        moves ^= move;
        int value = -search_shallow(theirs & ~flipped, mine | flipped | move, -beta,
                                    -(alpha > best ? alpha : best), 0);
        if (value > best && (best = value) >= beta) break;
    }
    return best;
}

static int search(u64 mine, u64 theirs, int alpha, int beta, int passed) {
    if (36 - __builtin_popcountll(mine | theirs) <= SHALLOW)
        return search_shallow(mine, theirs, alpha, beta, passed);
    u64 moves = legal_moves(mine, theirs);
    if (!moves) {
        if (passed) return disc_difference(mine, theirs);
        return -search(theirs, mine, -beta, -alpha, 1);
    }
    u64 hash = mine * 0x9E3779B97F4A7C15ULL ^ theirs * 0xC2B2AE3D27D4EB4FULL;
    Entry *entry = &table[(hash ^ hash >> 31) & ((1ULL << TABLE_BITS) - 1)];
    int table_move = -1;
    if (entry->mine == mine && entry->theirs == theirs) {
        if (entry->lower >= beta || entry->lower == entry->upper) return entry->lower;
        if (entry->upper <= alpha) return entry->upper;
        if (entry->lower > alpha) alpha = entry->lower;
        if (entry->upper < beta) beta = entry->upper;
        table_move = entry->best_move;
    }
    /* Order the moves: the table's best first, then by the opponent's mobility after them. */
    u64 move_list[36], flip_list[36];
    int keys[36], count = 0;
    while (moves) {
        u64 move = moves & -moves, flipped = flips(mine, theirs, move);
        moves ^= move;
        int key = 16 * __builtin_popcountll(legal_moves(theirs & ~flipped, mine | flipped | move));
        if (move & CORNERS) key -= 24;
        if (__builtin_ctzll(move) == table_move) key = -1000;
        int i = count++;
        for (; i > 0 && keys[i - 1] > key; i--) {
            move_list[i] = move_list[i - 1], flip_list[i] = flip_list[i - 1], keys[i] = keys[i - 1];
        }
        move_list[i] = move, flip_list[i] = flipped, keys[i] = key;
    }
    int original_alpha = alpha, best = -MAX_VALUE, best_move = -1;
    for (int i = 0; i < count; i++) {
        u64 next_mine = theirs & ~flip_list[i], next_theirs = mine | flip_list[i] | move_list[i];
        int bound = alpha > best ? alpha : best, value;
        if (i == 0) {
            value = -search(next_mine, next_theirs, -beta, -bound, 0);
        } else {  /* prove the move no better with a null window; search fully only if it is */
            value = -search(next_mine, next_theirs, -bound - 1, -bound, 0);
            if (value > bound && value < beta) value = -search(next_mine, next_theirs, -beta, -value, 0);
        }
        if (value > best) {
            best = value, best_move = __builtin_ctzll(move_list[i]);
            if (best >= beta) break;
        }
    }
    entry->mine = mine, entry->theirs = theirs, entry->best_move = (int8_t)best_move;
    entry->lower = best > original_alpha ? best : -MAX_VALUE;
    entry->upper = best < beta ? best : MAX_VALUE;
    return best;
}

/* Value of the position for the side to move, exact inside (alpha, beta); outside it, a bound
 * on the same side (fail-soft). Returns -1000 if the table cannot be allocated. */
int solve(u64 mine, u64 theirs, int alpha, int beta) {
    if (!table && !(table = calloc(1ULL << TABLE_BITS, sizeof(Entry)))) return -1000;
    return search(mine, theirs, alpha, beta, 0);
}
