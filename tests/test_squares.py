import pytest

from othello.squares import parse_square, square_name


@pytest.mark.parametrize("n", [4, 6, 8])
def test_every_square_round_trips(n):
    for action in range(n * n + 1):
        name = square_name(action, n)
        assert parse_square(name, n) == action
        assert parse_square(name.upper(), n) == action
        if action < n * n:
            row, col = divmod(action, n)
            assert parse_square(f"{row} {col}", n) == action


def test_names_follow_the_standard_layout():
    assert square_name(0) == "a1" and square_name(5) == "f1" and square_name(35) == "f6"
    assert square_name(20) == "c4" and parse_square("c4") == 20 == parse_square("3 2")
    assert square_name(36) == "pass"


@pytest.mark.parametrize("text, message", [
    ("", "not a square"), ("hello", "not a square"), ("c", "not a square"), ("1 2 3", "not a square"),
    ("-1 2", "not a square"), ("g1", "off the board"), ("a7", "off the board"), ("6 0", "off the board"),
])
def test_bad_names_are_explained(text, message):
    with pytest.raises(ValueError, match=message):
        parse_square(text)


def test_square_name_rejects_actions_off_the_board():
    with pytest.raises(ValueError, match="off a 6x6 board"):
        square_name(37)
