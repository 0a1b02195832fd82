import json

import numpy as np
import pytest

from othello import solver
from othello.bitboard import bitboard_rules
from othello.solved import load_solved_positions
from tests.reference_rules import legal_squares
from tests.reference_rules import play as reference_play

RULES = bitboard_rules(6)


def bitboards(board):
    mine, theirs = RULES.from_boards(board[None])
    return int(mine[0]), int(theirs[0])


def test_exact_values_match_the_shared_solved_positions():
    positions = [p for p in load_solved_positions() if (p.board == 0).sum() <= 14]
    assert len(positions) > 100
    for position in positions:
        assert solver.move_values(*bitboards(position.board)) == position.values


def test_outcome_is_the_sign_of_the_exact_value():
    for position in load_solved_positions()[:40]:
        mine, theirs = bitboards(position.board)
        assert solver.outcome(mine, theirs) == np.sign(max(position.values.values()))
        assert solver.exact_value(mine, theirs) == max(position.values.values())


def test_move_outcomes_are_the_signs_of_the_move_values():
    positions = [p for p in load_solved_positions() if (p.board == 0).sum() <= 16][:60]
    for position in positions:
        signs = {action: int(np.sign(value)) for action, value in position.values.items()}
        assert solver.move_outcomes(*bitboards(position.board)) == signs


def test_finished_game_is_scored_by_disc_difference_with_empties_for_nobody():
    discs = sum(1 << i for i in range(20))  # 20 discs, 16 squares empty, the other side wiped out
    assert RULES.is_over(discs, 0)
    assert solver.exact_value(discs, 0) == 20 and solver.outcome(discs, 0) == 1
    assert solver.exact_value(0, discs) == -20 and solver.outcome(0, discs) == -1


def test_symmetry_key_is_shared_by_all_images_of_a_board():
    board = load_solved_positions()[0].board
    keys = {solver.symmetry_key(solver.board_string(*bitboards(np.rot90(b, k))))
            for b in (board, board.T) for k in range(4)}
    assert len(keys) == 1
    other = load_solved_positions()[1].board
    assert solver.symmetry_key(solver.board_string(*bitboards(other))) not in keys


def test_reachable_positions_are_the_positions_the_plain_rules_reach():
    # Enumerated independently with the square-by-square reference rules (no pass can occur
    # in the first 4 moves of 6x6): the same sets, and 244 lines (perft 4) lead to them.
    start = np.zeros((6, 6), np.int8)
    start[2, 2] = start[3, 3] = -1  # white c3, d4; black d3, c4
    start[2, 3] = start[3, 2] = 1
    lines, player = [start], 1
    for plies in range(1, 5):
        lines = [reference_play(board, player, a) for board in lines for a in legal_squares(board, player)]
        player = -player
        expected = {"".join("x" if v == player else "o" if v else "." for v in b.ravel()) for b in lines}
        assert {solver.board_string(*p) for p in solver.reachable_positions(plies)} == expected
    assert len(lines) == 244
    assert len({solver.symmetry_key(b) for b in expected}) == 60  # the openings table's size


def test_shipped_openings_table_covers_every_four_move_position():
    table = solver.OpeningTable(4)
    keys = {solver.symmetry_key(solver.board_string(*p)) for p in solver.reachable_positions(4)}
    assert set(table.outcomes) == keys
    assert set(table.outcomes.values()) <= {-1, 0, 1}
    mine, theirs = next(iter(solver.reachable_positions(4)))
    assert table.outcome(mine, theirs) in (-1, 0, 1)
    assert table.outcome(mine, theirs) == table.outcome(*bitboards(np.rot90(RULES.to_boards(
        np.array([mine], np.uint64), np.array([theirs], np.uint64))[0])))


def test_games_are_split_by_the_perfect_play_outcome_of_the_players_side():
    table = solver.OpeningTable(4)
    won = next(p for p in solver.reachable_positions(4) if table.outcome(*p) == 1)  # for the side to move
    drawn = next(p for p in solver.reachable_positions(4) if table.outcome(*p) == 0)
    starts = {0: (*won, True), 1: (*won, False), 2: (*drawn, True), 3: (*drawn, False), 4: (*won, True)}
    tally = table.results_by_outcome(starts, [+6, +2, 0, -4, -2])
    assert tally == {1: [1, 0, 1], 0: [0, 1, 1], -1: [1, 0, 0]}  # game 1: the lost side, yet won
    with pytest.raises(KeyError, match="missing from"):
        table.results_by_outcome({0: (RULES.start_mine, RULES.start_theirs, True)}, [2])


def test_openings_table_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="openings4.json is missing.*othello.solver --plies 4"):
        solver.OpeningTable(4, tmp_path / "openings4.json")
    with pytest.raises(FileNotFoundError, match=r"openings0.json is missing: `python -m othello.solver --plies 0` builds it$"):
        solver.OpeningTable(0)  # only the 4-ply table ships: no "git checkout" for the others
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"plies": 4, "positions": [{"board": "x"}')
    with pytest.raises(ValueError, match="corrupt.json is not a valid openings table"):
        solver.OpeningTable(4, corrupt)


def test_missing_compiler_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CC", "no-such-compiler")
    solver._library.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="needs a C compiler.*no-such-compiler"):
            solver.exact_value(*bitboards(load_solved_positions()[0].board))
    finally:
        solver._library.cache_clear()


def test_table_run_resumes_and_solves_only_what_is_missing(tmp_path, monkeypatch):
    """Solving all 60 openings takes half an hour, so the search is replaced by a stand-in;
    what is tested is the bookkeeping: keep the earlier entries, solve the rest, write each."""
    path = tmp_path / "openings4.json"
    keys = sorted({solver.symmetry_key(solver.board_string(*p)) for p in solver.reachable_positions(4)})
    solver.write_table(path, 4, {key: -1 for key in keys[:50]})  # as a killed run left it
    solved = []
    monkeypatch.setattr(solver, "outcome", lambda mine, theirs: solved.append((mine, theirs)) or 1)
    monkeypatch.setattr("sys.argv", ["solver", "--plies", "4", "--output", str(path), "--workers", "1"])
    solver.main()
    assert len(solved) == 10
    outcomes = json.loads(path.read_text())["positions"]
    assert [p["board"] for p in outcomes] == keys
    assert [p["outcome"] for p in outcomes] == [-1] * 50 + [1] * 10


def worsening_line():
    """A critical position won for its side to move, its best and its worst move, and the
    opponent's best and worst replies to the worst one, where the worst reply hands the win
    back: (start, best, worst, best_reply, worst_reply), found among the solved positions."""
    for position in load_solved_positions():
        if not position.critical or (position.board == 0).sum() > 14 or max(position.values.values()) <= 0:
            continue
        start = bitboards(position.board)
        best, worst = max(position.values, key=position.values.get), min(position.values, key=position.values.get)
        replies = solver.move_values(*RULES.next_position(*start, worst))  # the opponent now wins with its best
        best_reply, worst_reply = max(replies, key=replies.get), min(replies, key=replies.get)
        if np.sign(replies[worst_reply]) < np.sign(replies[best_reply]):
            return start, best, worst, best_reply, worst_reply
    raise AssertionError("no suitable solved position")


def test_worsening_moves_names_the_plies_that_let_an_outcome_go():
    start, best, worst, best_reply, worst_reply = worsening_line()
    after_worst = RULES.next_position(*start, worst)
    assert solver.worsening_moves([start, RULES.next_position(*start, best)]) == []
    # the winner threw its win away, then the opponent handed it back
    assert solver.worsening_moves([start, after_worst, RULES.next_position(*after_worst, best_reply)]) == [0]
    assert solver.worsening_moves([start, after_worst, RULES.next_position(*after_worst, worst_reply)]) == [0, 1]


def test_best_moves_are_every_move_of_the_best_value():
    positions = [p for p in load_solved_positions() if (p.board == 0).sum() <= 16][:120]
    assert sum(len(set(p.values.values())) < len(p.values) for p in positions) > 10  # ties occur
    for position in positions:
        best = max(position.values.values())
        assert solver.best_moves(*bitboards(position.board)) == (
            best, sorted(a for a, v in position.values.items() if v == best))


def test_best_moves_pass_when_forced_and_none_when_over():
    board = np.zeros((6, 6), np.int8)
    board[0, 0], board[0, 1] = -1, 1  # the side to move has no move, its opponent has b1... c1
    mine, theirs = bitboards(board)
    assert not RULES.legal_moves(mine, theirs) and RULES.legal_moves(theirs, mine)
    assert solver.best_moves(mine, theirs) == (solver.exact_value(mine, theirs), [36])
    discs = sum(1 << i for i in range(20))
    assert solver.best_moves(discs, 0) == (20, [])


def test_exact_value_is_the_same_from_any_guess_and_the_full_window_search():
    """MTD(f) from guesses far below, near and far above the value, each from an empty table,
    and one full-window alpha-beta search agree on positions of 20 and 18 empties."""
    rng, library = np.random.default_rng(1), solver._library()
    for empties in (20, 18):
        mine, theirs = RULES.start_mine, RULES.start_theirs
        while 36 - bin(mine | theirs).count("1") > empties:  # a random game (this seed has no early end)
            mine, theirs = RULES.next_position(mine, theirs, int(rng.choice(np.flatnonzero(RULES.action_mask(mine, theirs)))))
        values = set()
        for guess in (-64, 0, 64):
            library.clear_table()
            values.add(solver.exact_value(mine, theirs, guess))
        library.clear_table()
        values.add(solver._solve(mine, theirs, -solver.MAX_VALUE, solver.MAX_VALUE))
        assert len(values) == 1, values
