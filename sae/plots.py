"""Scaling plots of a sweep, drawn from scaling.json's records alone (matplotlib, imported
here only, so that nothing else in the pipeline needs it)."""
from pathlib import Path

from sae.model import ARCHITECTURES

MARKERS = dict(zip(ARCHITECTURES, "os^DvP", strict=True))  # one marker per architecture, one colour per width
WIDTH_LINES = {256: ":", 512: ":", 1024: "-", 2048: "-.", 4096: "--"}


def _lines(records, architecture, key, order_by):
    """{value of `key`: its records sorted by `order_by`} for one architecture: one line each."""
    lines = {}
    for record in records:
        if record["architecture"] == architecture:
            lines.setdefault(record[key], []).append(record)
    return {value: sorted(group, key=lambda r: r[order_by]) for value, group in sorted(lines.items())}


def _architecture_lines(ax, records, key):
    """One line per architecture and width: `key` against L0."""
    for architecture in ARCHITECTURES:
        for width, group in _lines(records, architecture, "n_features", order_by="l0").items():
            ax.plot([r["l0"] for r in group], [r[key] for r in group], marker=MARKERS[architecture],
                    linestyle=WIDTH_LINES.get(width, "-"), label=f"{architecture}, {width} features")


def plot_scaling(records, out_dir, concept_baselines=None):
    """Write scaling.png (L0, MSE, loss and fraction recovered against the number of features,
    log axis, one line per L1 penalty), mse_vs_l0.png (the sparsity / reconstruction
    frontier, every architecture on one L0 axis) and, when the records have them, concepts.png
    (concept coverage and board reconstruction against L0, with the baselines as dashed
    lines) and frontier.png (the Pareto frontier: fraction recovered, FVE, coverage and board
    reconstruction against L0, one line per architecture and width) into `out_dir`. Returns the
    paths."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    l1_lines = _lines(records, "l1", "l1_penalty", order_by="n_features")
    panels = [("l0", "L0 (active features per position)"), ("mse", "MSE (per dimension)"),
              ("loss", "loss (MSE + lambda * sparsity, scaled space)"), ("fraction_recovered", "fraction recovered")]
    figure, axes = plt.subplots(2, 2, figsize=(11, 8), constrained_layout=True)
    for ax, (key, label) in zip(axes.flat, panels):
        for penalty, group in l1_lines.items():
            ax.plot([r["n_features"] for r in group], [r[key] for r in group], marker="o", label=f"lambda = {penalty:g}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("number of features")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    if l1_lines:
        axes.flat[0].legend()
    figure.suptitle("L1 SAEs on the layer-2 residual stream: scaling with dictionary size")
    scaling_path = out_dir / "scaling.png"
    figure.savefig(scaling_path, dpi=110)
    plt.close(figure)

    figure, ax = plt.subplots(figsize=(7, 5), constrained_layout=True)
    _architecture_lines(ax, records, "mse")
    _log_l0_axis(ax)
    ax.set_ylabel("MSE (per dimension)")
    ax.set_title("Reconstruction against sparsity (lower left is better)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    frontier_path = out_dir / "mse_vs_l0.png"
    figure.savefig(frontier_path, dpi=110)
    plt.close(figure)
    paths = [scaling_path, frontier_path]
    if records and all("auroc" in r for r in records):
        paths.append(_plot_concepts(plt, records, concept_baselines or {}, out_dir / "concepts.png"))
        paths.append(_plot_frontier(plt, records, concept_baselines or {}, out_dir / "frontier.png"))
    return paths


def _baseline_lines(ax, baselines, key):
    for (name, values), colour in zip(sorted(baselines.items()), ("black", "grey", "tab:red", "tab:green")):
        if key in values:  # the probes are not features: no board reconstruction
            ax.axhline(values[key], color=colour, linestyle=":", label=f"{name} (baseline)")


def with_board_reconstruction(values):
    """`values` with reconstruction_board, the mean F1 of the three board readouts (mine, theirs,
    legal), where it has them."""
    parts = [values.get(f"reconstruction_{part}") for part in ("mine", "theirs", "legal")]
    return {**values, "reconstruction_board": sum(parts) / 3} if None not in parts else values


def _plot_frontier(plt, records, baselines, path):
    records = [with_board_reconstruction(r) for r in records]
    baselines = {name: with_board_reconstruction(values) for name, values in baselines.items()}
    panels = [("fraction_recovered", "policy fraction recovered (spliced in)"),
              ("fve", "fraction of variance explained"), ("coverage", "concept coverage (mean best F1)"),
              ("reconstruction_board", "board reconstruction (mean F1: mine, theirs, legal)")]
    figure, axes = plt.subplots(2, 2, figsize=(13, 9), constrained_layout=True)
    for ax, (key, label) in zip(axes.flat, panels):
        _architecture_lines(ax, records, key)
        if key in ("coverage", "reconstruction_board"):
            _baseline_lines(ax, baselines, key)
        _log_l0_axis(ax)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7, ncol=2)
    axes.flat[2].legend(fontsize=7)
    figure.suptitle("The SAE frontier on the layer-2 residual stream: quality against sparsity (upper left is better)")
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _plot_concepts(plt, records, baselines, path):
    panels = [("coverage", "coverage (mean best F1 over concepts)"),
              ("auroc", "mean best AUROC over concepts"),
              ("reconstruction_mine", "board reconstruction: my discs (F1)"),
              ("reconstruction_legal", "board reconstruction: legal moves (F1)")]
    figure, axes = plt.subplots(1, 4, figsize=(19, 4.5), constrained_layout=True)
    for ax, (key, label) in zip(axes, panels):
        _architecture_lines(ax, records, key)
        _baseline_lines(ax, baselines, key)
        _log_l0_axis(ax)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    figure.suptitle("Board concepts recovered by single features (coverage) and by labelled features together")
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _log_l0_axis(ax):
    """L0 on a log axis, labelled at round numbers only (minor labels overlap)."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.set_xticks([10, 20, 50, 100, 200])
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("L0 (active features per position)")
