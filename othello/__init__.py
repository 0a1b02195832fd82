"""6x6 Othello: the rules (a bitboard core and alpha-zero-general's game contract over it),
square names, players, the arena and the terminal game in play.py."""
