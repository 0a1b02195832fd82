"""Play 6x6 Othello in the terminal, or watch engines play each other.

    python othello/play.py --human                      # you (black) against alpha-beta
    python othello/play.py --human --color white --opponent greedy
    python othello/play.py --games 20 --player alphabeta:4 --opponent greedy [--json]

Players: random, greedy, alphabeta[:depth] (default depth 4).
"""
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script (`python othello/play.py`, from the repo root or from othello/):
    # make the repo root importable so that `othello` resolves as a package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from othello.OthelloGame import OthelloGame  # noqa: E402
from othello.OthelloPlayers import GameAborted, HumanPlayer, make_player  # noqa: E402
from othello.arena import arena, play_game  # noqa: E402
from othello.cli import parse_config  # noqa: E402


@dataclass
class PlayConfig:
    """Play 6x6 Othello: --human for you against an engine, --games N for engine against engine."""

    human: bool = False
    """play a game yourself against --opponent"""
    color: str = "black"
    """your colour with --human: black (moves first) or white"""
    games: int = 0
    """play this many engine-vs-engine games of --player against --opponent, colours alternating"""
    player: str = "alphabeta:4"
    """first engine with --games: random, greedy or alphabeta[:depth]"""
    opponent: str = "alphabeta:4"
    """engine you (or --player) play against: random, greedy or alphabeta[:depth]"""
    opening_plies: int = 2
    """random opening moves shared by each pair of --games games, for variety"""
    seed: int = 0
    """seed of the random openings and of the players' tie-breaks"""
    json: bool = False
    """with --games: print the summary as one JSON object"""
    verbose: bool = False
    """with --games: print every board and move"""

    def __post_init__(self):
        if self.human == (self.games > 0):
            raise ValueError("choose one mode: --human to play yourself, or --games N (N >= 1) to watch engines")
        if self.color not in ("black", "white"):
            raise ValueError(f"--color must be black or white, got '{self.color}'")
        if self.opening_plies < 0:
            raise ValueError(f"--opening-plies must be >= 0, got {self.opening_plies}")


def play_human(config, game):
    opponent = make_player(config.opponent, game, seed=config.seed)
    human = HumanPlayer(game)
    black, white = (human, opponent) if config.color == "black" else (opponent, human)
    print(f"You play {config.color} ({'X' if config.color == 'black' else 'O'}) against {config.opponent}. "
          "Enter moves like c4, or 'row col' from 0 like '3 2'; quit to stop. * marks legal moves.")
    try:
        diff = play_game(game, black, white, verbose=True)
    except GameAborted as reason:
        print(f"\nGame abandoned ({reason}).")
        return 0
    mine = diff if config.color == "black" else -diff
    verdict = "You win" if mine > 0 else "You lose" if mine < 0 else "Draw"
    print(f"{verdict}: disc difference {mine:+d} from your side.")
    return 0


def play_engines(config, game):
    player1 = make_player(config.player, game, seed=config.seed)
    player2 = make_player(config.opponent, game, seed=config.seed + 1)
    result = arena(game, player1, player2, config.games, config.opening_plies, config.seed,
                   progress=not (config.json or config.verbose), verbose=config.verbose)
    if config.json:
        print(json.dumps({"player": config.player, "opponent": config.opponent, "games": result.games,
                          "wins": result.wins, "losses": result.losses, "draws": result.draws,
                          "score": result.score, "disc_diffs": result.disc_diffs, "config": asdict(config)}))
    else:
        print(result.summary(config.player, config.opponent))
    return 0


def main(argv=None):
    config = parse_config(PlayConfig, argv)
    game = OthelloGame(6)
    try:
        for spec in (config.player, config.opponent):
            make_player(spec, game)
    except ValueError as error:
        sys.exit(f"error: {error}")
    return play_human(config, game) if config.human else play_engines(config, game)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("\nInterrupted.")
