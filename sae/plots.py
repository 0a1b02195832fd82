"""Scaling plots of a sweep, drawn from scaling.json's records alone (matplotlib, imported
here only, so that nothing else in the pipeline needs it)."""
from pathlib import Path


def _series(records, architecture, key):
    """{line label: sorted [(n_features, record)]} for one architecture, a line per `key` value."""
    lines = {}
    for record in records:
        if record["architecture"] == architecture:
            lines.setdefault(record[key], []).append((record["n_features"], record))
    return {value: sorted(points, key=lambda p: p[0]) for value, points in sorted(lines.items())}


def plot_scaling(records, out_dir):
    """Write scaling.png (L0, MSE, loss and fraction recovered against the number of features,
    log axis, one line per L1 penalty) and mse_vs_l0.png (the sparsity / reconstruction
    frontier, L1 and TopK SAEs on one L0 axis) into `out_dir`. Returns the paths."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    l1_lines = _series(records, "l1", "l1_penalty")
    panels = [("l0", "L0 (active features per position)"), ("mse", "MSE (per dimension)"),
              ("loss", "loss (MSE + lambda * sparsity, scaled space)"), ("fraction_recovered", "fraction recovered")]
    figure, axes = plt.subplots(2, 2, figsize=(11, 8), constrained_layout=True)
    for ax, (key, label) in zip(axes.flat, panels):
        for penalty, points in l1_lines.items():
            ax.plot([n for n, _ in points], [r[key] for _, r in points], marker="o", label=f"lambda = {penalty:g}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("number of features")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes.flat[0].legend()
    figure.suptitle("L1 SAEs on the layer-2 residual stream: scaling with dictionary size")
    scaling_path = out_dir / "scaling.png"
    figure.savefig(scaling_path, dpi=110)
    plt.close(figure)

    figure, ax = plt.subplots(figsize=(7, 5), constrained_layout=True)
    for architecture, key, marker in (("l1", "n_features", "o"), ("topk", "n_features", "s")):
        by_width = {}
        for record in records:
            if record["architecture"] == architecture:
                by_width.setdefault(record[key], []).append(record)
        for width, group in sorted(by_width.items()):
            group.sort(key=lambda r: r["l0"])
            ax.plot([r["l0"] for r in group], [r["mse"] for r in group], marker=marker,
                    linestyle="-" if architecture == "l1" else "--", label=f"{architecture}, {width} features")
    ax.set_xscale("log")
    ax.set_xlabel("L0 (active features per position)")
    ax.set_ylabel("MSE (per dimension)")
    ax.set_title("Reconstruction against sparsity (lower left is better)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    frontier_path = out_dir / "mse_vs_l0.png"
    figure.savefig(frontier_path, dpi=110)
    plt.close(figure)
    return [scaling_path, frontier_path]
