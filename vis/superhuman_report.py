"""The outputs of vis/superhuman.py's analysis: the markdown report, the `superhuman` block of
the viewer data, and pictures of the clearest candidates."""
import json
from pathlib import Path

import numpy as np

from othello.bitboard import bitboard_rules
from othello.squares import parse_square
from sae.activations import write_text_atomic
from sae.superhuman import excess_p_value
from vis.generate_vis_data import board_string as viewer_board


def markdown(result, labels=None):
    """The report: counts by phase, then the top features and their causal check; given every
    feature's labels ({id: [label, ...]}, from the viewer data), the best unexplained one."""
    lines = [f"{result['superhuman']} of {result['positions']} positions are superhuman for the raw policy "
             f"({result['search_superhuman']} for the search); control: {result['control']} ordinary positions "
             "of the same phases.", "",
             "| empties | " + " | ".join(map(str, result["by_empties"])) + " |",
             "|---" * (len(result["by_empties"]) + 1) + "|",
             "| raw policy | " + " | ".join(f"{s} / {n}" for s, n in result["by_empties"].values()) + " |",
             "| search | " + " | ".join(f"{s} / {n}" for s, n in result["search_by_empties"].values()) + " |",
             "", "Outcome kept: " + ", ".join(f"{k} {v:.1%}" for k, v in result["keeps_outcome"].items()), "",
             "| feature | labels | contribution | control | fires | outcome lost when removed | became classical | "
             "random feature: outcome lost | p |",
             "|---|---|---|---|---|---|---|---|---|"]
    for f in result["features"]:
        lines.append(f"| {f['id']} | {describe(f['labels'])} | {f['contribution']:.3f} | {f['control']:.3f} | {f['fires']:.0%} | "
                     f"{lost(f['causal'])} | {percent(f['causal']['became_classical'])} | "
                     f"{lost(f['random']['causal'])} | {p_value(f['causal'], f['random']['causal'])} |")
    together = result["together"]
    lines += ["", f"Top {len(together['ids'])} removed together: outcome lost on {lost(together['causal'])} positions, "
              f"{result['reference_player']}'s move on {percent(together['causal']['became_classical'])} of the changed ones; "
              f"{len(together['random']['ids'])} frequency-matched random features: {lost(together['random']['causal'])} "
              f"(p = {p_value(together['causal'], together['random']['causal'])}, one-sided Fisher exact test)."]
    contribution = result["per_feature"]["contribution"]
    lines += ["", "By total contribution to the move on the superhuman positions: " +
              ", ".join(f"{f} ({describe((labels or {}).get(f))}, {contribution[f]:.3f})"
                        for f in result["top_by_contribution"]) + "."]
    if labels:
        lines += ["", unexplained(result, labels)]
    search = result["search"]["features"]
    if search:
        lines += ["", "Features behind the search's move on its superhuman positions (most enriched first): " +
                  ", ".join(f"{f['id']} ({describe(f['labels'])}, {f['enrichment']:+.3f})" for f in search) + "."]
    return "\n".join(lines)


def unexplained(result, labels):
    """A line on the features with no concept label: how many of the candidates are, and the most
    enriched of those that push the network's move."""
    per_feature = result["per_feature"]
    pushing = [f for f, c in enumerate(per_feature["contribution"]) if c > 0 and labels.get(f) == []]
    shown = sum(1 for f in result["features"] if labels.get(f["id"]) == [])
    line = f"Unexplained features (no concept label): {shown} of the {len(result['features'])} candidates"
    if not pushing:
        return line + "; none pushes the network's move."
    best = max(pushing, key=lambda f: per_feature["enrichment"][f])
    top = result["features"][0]["enrichment"] if result["features"] else float("nan")
    return (line + f"; the most enriched that pushes the move is {best} (enrichment {per_feature['enrichment'][best]:+.3f}, "
            f"firing on {per_feature['fires'][best]:.0%} of the superhuman positions; the top candidate's {top:+.3f}).")


def describe(labels):
    return ", ".join((labels or [])[:2]) or ("unexplained" if labels is not None else "?")


def percent(share):
    return "-" if share is None or np.isnan(share) else f"{share:.0%}"


def hits(causal):
    """(positions whose move lost the outcome, positions) of a causal check."""
    n = causal["positions"]
    return (round(causal["outcome_lost"] * n) if n else 0), n


def lost(causal):
    return f"{percent(causal['outcome_lost'])} ({'/'.join(map(str, hits(causal)))})"


def p_value(causal, random):
    """How likely the feature's excess of lost outcomes over its random feature's is by chance."""
    value = excess_p_value(*hits(causal), *hits(random))
    return f"{value:.2g}"


def add_to_viewer(result, data, command):
    """Add the analysis to SAE result["sae"]'s file in the viewer data folder `data`:

    "superhuman": {positions, superhuman, search_superhuman, control, players, reference_player,
                   by_empties, keeps_outcome, together, command}   at the file's top level
    feature["superhuman"]: {contribution, control, enrichment, fires}   on every live feature,
                   plus for the causally checked candidates: rank (1 = most enriched),
                   causal and random ({id, causal}) as in the analysis (NaN shares as null),
                   examples: [{board (a row of "boards", appended if new), network, classical
                   (actions), network_outcome, classical_outcome ("win" / "draw" / "loss")}]"""
    index = json.loads((data / "index.json").read_text())
    entry = next((e for e in index["saes"] if e["name"] == result["sae"]), None)
    if entry is None:
        raise ValueError(f"{result['sae']} is not in {data / 'index.json'}: export it with vis/generate_vis_data.py "
                         "first, or leave out --viewer")
    path = data / entry["file"]
    bundle = json.loads(path.read_text())
    features, per_feature = bundle["features"], result["per_feature"]
    for feature in features:
        if feature["frequency"] > 0:
            feature["superhuman"] = {key: per_feature[key][feature["id"]]
                                     for key in ("contribution", "control", "enrichment", "fires")}
    rows = {board: row for row, board in enumerate(bundle["boards"])}
    for rank, candidate in enumerate(result["features"], 1):
        block = features[candidate["id"]].setdefault("superhuman", {})
        block.update(rank=rank, causal=candidate["causal"], random=candidate["random"],
                     examples=[{**viewer_example(e, bundle, rows), "network_outcome": e["network_outcome"],
                                "classical_outcome": e["classical_outcome"]} for e in candidate["examples"]])
    bundle["superhuman"] = {key: result[key] for key in ("positions", "superhuman", "search_superhuman", "control",
                                                         "players", "reference_player", "by_empties", "keeps_outcome",
                                                         "together")}
    bundle["superhuman"]["command"] = command
    write_text_atomic(path, json.dumps(finite(bundle), separators=(",", ":")))
    entry["bytes"] = path.stat().st_size
    write_text_atomic(data / "index.json", json.dumps(index, separators=(",", ":")))  # last, as the export does
    return path


def viewer_example(example, bundle, rows):
    """{board: row in bundle["boards"] (appended if new), network, classical: actions}."""
    text = viewer_text(example["board"])
    if text not in rows:
        rows[text] = len(bundle["boards"])
        bundle["boards"].append(text)
        bundle["last_moves"].append(-1)  # unknown: the analysis keeps positions, not games
    return {"board": rows[text], "network": parse_square(example["network"]),
            "classical": parse_square(example["classical"])}


def viewer_text(board):
    """A solver board ('x', 'o', '.') in the viewer's letters: its legal moves marked '*'."""
    board = np.array([{"x": 1, "o": -1, ".": 0}[c] for c in board], np.int8).reshape(1, 6, 6)
    rules = bitboard_rules(6)
    return viewer_board(board.reshape(-1), rules.action_mask(*rules.from_boards(board))[0])


def clearest(result, count=3):
    """The candidates whose removal loses the outcome most often beyond their random feature's,
    with example positions; the more enriched first among equals."""
    def margin(feature):
        lost, baseline = feature["causal"]["outcome_lost"], feature["random"]["causal"]["outcome_lost"]
        return -np.inf if np.isnan(lost) else lost - (0.0 if np.isnan(baseline) else baseline)

    shown = [f for f in result["features"] if f["examples"]]
    return sorted(shown, key=lambda f: (-margin(f), -f["enrichment"]))[:count]


def draw_pictures(result, folder):
    """One picture per clearest candidate: its example positions, the network's move outlined
    blue and the strongest classical player's orange. Returns the paths."""
    from vis.report import draw_board, pyplot, save

    plt, folder, paths = pyplot(), Path(folder), []
    folder.mkdir(parents=True, exist_ok=True)
    for feature in clearest(result):
        examples = feature["examples"]
        figure, axes = plt.subplots(1, len(examples), figsize=(2.6 * len(examples), 2.9), squeeze=False)
        for ax, e in zip(axes[0], examples):
            marks = {parse_square(e["network"]): "#1e88e5", parse_square(e["classical"]): "#fb8c00"}
            draw_board(ax, viewer_text(e["board"]), marks=marks)
            ax.set_title(f"network {e['network']} ({e['network_outcome']})\n{result['reference_player']} "
                         f"{e['classical']} ({e['classical_outcome']}), {e['empties']} empty", fontsize=7)
        causal = feature["causal"]
        figure.suptitle(f"feature {feature['id']}: {describe(feature['labels'])}; removed, the outcome is lost on "
                        f"{percent(causal['outcome_lost'])} of {causal['positions']} "
                        f"(random: {percent(feature['random']['causal']['outcome_lost'])})", fontsize=8)
        paths.append(folder / f"{result['sae']}_{feature['id']}.png")
        save(figure, paths[-1])
    return paths


def finite(value):
    """`value` with every NaN as None: JSON that a browser can parse."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value
