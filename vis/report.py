"""The interpretability report: the concept table of the sweep and its baselines, and pictures
of the clearest and the most surprising features of one SAE (stage 5, after the viewer data).

    python vis/report.py                       # reads scaling.json and vis/data, writes assets/features/
    python vis/report.py --sae matryoshka_k40_f1024 --out runs/report

Prints markdown (docs/features.md is its output). "Clearest": for
each kind of concept, the feature whose label matches it best (F1); "surprising": the
unexplained features whose ablation changes the policy most.
"""
import json
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from othello.cli import parse_config  # noqa: E402
from othello.squares import square_name  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
COLUMNS = ("l0", "coverage", "auroc", "reconstruction_mine", "reconstruction_theirs", "reconstruction_legal",
           "reconstruction_recall_mine", "explained_features", "probe_cosine")


@dataclass
class ReportConfig:
    """Write the concept table and feature pictures of the interpretability report."""

    scaling: str = str(REPO / "scaling.json")
    """the sweep's records (train_sae.py)"""
    data: str = str(REPO / "vis" / "data")
    """the viewer data (vis/generate_vis_data.py)"""
    sae: str = ""
    """the SAE whose features are pictured (default: the first in the viewer data)"""
    clearest: int = 6
    """features shown for the clearest concepts"""
    surprising: int = 3
    """unexplained features shown"""
    examples: int = 4
    """top-activating boards per picture"""
    out: str = str(REPO / "assets" / "features")
    """where the pictures go"""


def concept_table(scaling):
    """Markdown: one row per SAE, then the baselines."""
    def cell(value, key):
        if value is None:
            return "-"
        return f"{value:.1f}" if key == "l0" else str(value) if isinstance(value, int) else f"{value:.3f}"

    lines = ["| SAE | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for record in sorted(scaling["records"], key=lambda r: (r["n_features"], r.get("l1_penalty") or 0, r.get("k") or 0)):
        lines.append(f"| {record['name']} | " + " | ".join(cell(record.get(k), k) for k in COLUMNS) + " |")
    for name, values in scaling.get("concept_baselines", {}).items():
        lines.append(f"| *{name}* | " + " | ".join(cell(values.get(k), k) for k in COLUMNS) + " |")
    return "\n".join(lines)


def concept_kind(name):
    return name.split(":")[0].split(">=")[0]


def probe_table(data):
    """Markdown: per kind of concept, how close the SAE's nearest decoder direction comes to the
    concept's linear probe."""
    kinds = {}
    for concept, _, cosine in data["probes"]:
        kinds.setdefault(concept_kind(concept), []).append(cosine)
    lines = ["| concept | probes | mean best cosine | with a feature at cosine >= 0.5 |", "|---|---|---|---|"]
    for kind, cosines in kinds.items():
        lines.append(f"| {kind} | {len(cosines)} | {sum(cosines) / len(cosines):.2f} | "
                     f"{sum(c >= 0.5 for c in cosines)} |")
    return "\n".join(lines)


def pick_features(data, clearest, surprising):
    """(clearest, surprising) live features: the best-labelled feature of each concept kind, by
    the F1 of its best concept; and the most policy-relevant unexplained ones."""
    labelled = [f for f in data["features"] if f["frequency"] and f["labels"] and f["concepts"]]
    best_by_kind = {}
    for feature in sorted(labelled, key=lambda f: -f["concepts"][0][1]):
        best_by_kind.setdefault(concept_kind(feature["concepts"][0][0]), feature)
    by_id = {f["id"]: f for f in data["features"]}
    unexplained = [by_id[i] for i in data["unexplained"]["policy_relevant"][:surprising]]
    return list(best_by_kind.values())[:clearest], unexplained


def draw_feature(feature, data, examples, path):
    """Its top-activating boards side by side (side to move black, its last move ringed)."""
    plt = pyplot()
    tops = feature["top"][:examples]
    figure, axes = plt.subplots(1, len(tops), figsize=(2.2 * len(tops), 2.5), squeeze=False)
    for ax, (board, activation) in zip(axes[0], tops):
        draw_board(ax, data["boards"][board], data["last_moves"][board])
        ax.set_title(f"activation {activation:.2f}", fontsize=8)
    figure.suptitle(f"feature {feature['id']}: " + (", ".join(feature["labels"][:3]) or "unexplained"), fontsize=9)
    save(figure, path)


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_board(ax, text, last=-1, marks=None):
    """One board of the viewer data (x: the side to move, black; o; *: a legal move) on `ax`,
    the last move's disc ringed red and each square of marks {action: colour} outlined."""
    plt = pyplot()
    ax.add_patch(plt.Rectangle((0, 0), 6, 6, color="#2e7d4f"))
    for i, ch in enumerate(text):
        x, y = i % 6 + 0.5, 5.5 - i // 6
        if ch in "xo":
            ax.add_patch(plt.Circle((x, y), 0.4, facecolor="#111" if ch == "x" else "#f4f4f4",
                                    edgecolor="#e53935" if i == last else "#000", linewidth=2.5 if i == last else 0.5))
        elif ch == "*":
            ax.add_patch(plt.Circle((x, y), 0.1, color="#ffffff99"))
    for k in range(7):
        ax.plot([k, k], [0, 6], color="#1b4d30", linewidth=0.8)
        ax.plot([0, 6], [k, k], color="#1b4d30", linewidth=0.8)
    for action, colour in (marks or {}).items():
        ax.add_patch(plt.Rectangle((action % 6 + 0.06, 5.06 - action // 6), 0.88, 0.88, fill=False, edgecolor=colour,
                                   linewidth=3))
    ax.set_xlim(0, 6), ax.set_ylim(0, 6), ax.set_aspect("equal")
    ax.set_xticks([i + 0.5 for i in range(6)], list("abcdef")), ax.set_yticks([i + 0.5 for i in range(6)], list("654321"))
    ax.tick_params(length=0, labelsize=7)


def save(figure, path):
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    pyplot().close(figure)


def square_of(action):
    return "pass" if action == 36 else square_name(action)


def describe(feature):
    name, f1, precision, recall, _ = feature["concepts"][0] if feature["concepts"] else ("-", 0, 0, 0, 0)
    changed, kl, value, freed = feature["ablate"]
    steer_changed, _, steer_value, pushed = feature["steer"]
    return (f"fires on {100 * feature['frequency']:.1f}% of positions; best concept {name} (F1 {f1:.2f}, "
            f"precision {precision:.2f}, recall {recall:.2f}). Ablated where it fires: the network's top move "
            f"changes {100 * changed:.0f}% of the time (policy KL {kl:.3f}, value {value:+.3f}; {square_of(freed)} "
            f"gains most). Steered: the top move changes {100 * steer_changed:.0f}% of the time (value "
            f"{steer_value:+.3f}), toward {square_of(pushed)}")


def read_json(path, what):
    """A JSON file the report needs; a missing or damaged one is a ValueError saying what makes it."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path} not found; it is {what}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is corrupt ({error}); it is {what}") from None


def report(config: ReportConfig):
    """Write the pictures and return the markdown."""
    scaling = read_json(Path(config.scaling), "the sweep's records: run `python train_sae.py`")
    index = read_json(Path(config.data) / "index.json", "the viewer data: run `python vis/generate_vis_data.py`")
    entry = next((e for e in index["saes"] if e["name"] == config.sae), None) if config.sae else index["saes"][0]
    if entry is None:
        raise ValueError(f"--sae {config.sae} is not in {config.data}; it holds {', '.join(e['name'] for e in index['saes'])}")
    data = json.loads((Path(config.data) / entry["file"]).read_text())
    if "unexplained" not in data:
        raise ValueError(f"{config.data} predates the concept labels: rerun python vis/generate_vis_data.py")
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    clearest, surprising = pick_features(data, config.clearest, config.surprising)
    lines = ["## Concept recovery across the sweep", "", concept_table(scaling), "",
             f"## Linear probes and the closest features ({entry['name']})", "", probe_table(data), ""]
    for title, features in (("Clearest features", clearest), ("Unexplained, policy-relevant features", surprising)):
        lines += [f"## {title} ({entry['name']})", ""]
        for feature in features:
            path = out / f"{entry['name']}_{feature['id']}.png"
            draw_feature(feature, data, config.examples, path)
            label = ", ".join(feature["labels"][:3]) or "unexplained"
            lines += [f"**Feature {feature['id']}** ({label}): {describe(feature)}.", "",
                      f"![feature {feature['id']}]({picture_link(path)})", ""]
    return "\n".join(lines)


def picture_link(path):
    """The picture's link from docs/features.md, where the output goes (absolute outside the repo)."""
    path = Path(path).resolve()
    return f"../{path.relative_to(REPO).as_posix()}" if path.is_relative_to(REPO) else str(path)


def main(argv=None):
    config = parse_config(ReportConfig, argv)
    try:
        print(report(config))
    except (OSError, ValueError, KeyError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
