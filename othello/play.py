"""Play 6x6 Othello against the AlphaZero agent in the terminal, or watch engines play.

    python othello/play.py --human                          # you (black) against the shipped model
    python othello/play.py --human --color white --sims 200
    python othello/play.py --games 100                      # the model against its previous best
    python othello/play.py --games 100 --opponent alphabeta:4 --json

Players: alphazero (othello/pretrained/best.pth.tar), a checkpoint path, random, greedy,
alphabeta[:depth] (default depth 4), perfect (the exact solver).
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
from othello.OthelloPlayers import DEFAULT_SIMULATIONS, PREVIOUS_BEST, GameAborted, HumanPlayer, make_player  # noqa: E402
from othello.arena import arena, play_game  # noqa: E402
from othello.cli import parse_config  # noqa: E402



@dataclass
class PlayConfig:
    """Play 6x6 Othello: --human for you against --player, --games N for --player against --opponent."""

    human: bool = False
    """play a game yourself against --player"""
    color: str = "black"
    """your colour with --human: black (moves first) or white"""
    games: int = 0
    """play this many games of --player against --opponent, colours alternating"""
    player: str = "alphazero"
    """the AI: alphazero (the shipped model), a checkpoint path, random, greedy, alphabeta[:depth] or perfect"""
    opponent: str = "previous"
    """opponent of --player with --games: as --player, or previous (the shipped previous best if
    present, else greedy)"""
    sims: int = DEFAULT_SIMULATIONS
    """MCTS simulations per move of AlphaZero players"""
    opening_plies: int = 4
    """random opening moves shared by each pair of --games games, for variety"""
    seed: int = 0
    """seed of the random openings and of the engines' tie-breaks"""
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
        if self.sims < 1:
            raise ValueError(f"--sims must be at least 1, got {self.sims}")
        if self.opponent == "previous":
            self.opponent = str(PREVIOUS_BEST) if PREVIOUS_BEST.exists() else "greedy"


def play_human(config, game, ai):
    human = HumanPlayer(game)
    black, white = (human, ai) if config.color == "black" else (ai, human)
    print(f"You play {config.color} ({'X' if config.color == 'black' else 'O'}) against {config.player}. "
          "Enter moves like c4, or 'row col' from 0 like '3 2'; quit to stop. * marks legal moves. "
          "Boards are shown with black as X whoever moves.")
    try:
        diff = play_game(game, black, white, verbose=True)
    except GameAborted as reason:
        print(f"\nGame abandoned ({reason}).")
        return 0
    mine = diff if config.color == "black" else -diff
    verdict = "You win" if mine > 0 else "You lose" if mine < 0 else "Draw"
    print(f"{verdict}: disc difference {mine:+d} from your side.")
    return 0


def play_engines(config, game, player1, player2):
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
        player = make_player(config.player, game, config.seed, config.sims)
        if config.human:
            return play_human(config, game, player)
        opponent = make_player(config.opponent, game, config.seed + 1, config.sims)
    except (ValueError, FileNotFoundError) as error:
        sys.exit(f"error: {error}")
    return play_engines(config, game, player, opponent)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("\nInterrupted.")
