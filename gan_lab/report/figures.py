"""The report's own figures, drawn from the stages' CSV and JSON files (no TensorFlow).

matplotlib with a fixed size and dpi and no `Software` stamp, so the same numbers give the same bytes.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from gan_lab.data import NUM_CLASSES  # noqa: E402
from gan_lab.plots import DPI, PNG_METADATA, draw_losses  # noqa: E402



def save_losses_side_by_side(losses: dict[str, pd.DataFrame], titles: dict[str, str], path: Path) -> None:
    """One panel per model on a shared loss axis: faint per-step losses, solid rolling means."""
    fig, axes = plt.subplots(1, len(losses), figsize=(4.5 * len(losses), 3.6), dpi=DPI, sharey=True, squeeze=False)
    for ax, (name, history) in zip(axes[0], losses.items()):
        draw_losses(ax, history, titles[name])
    axes[0][0].set_ylabel("binary cross-entropy")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(path, format="png", metadata=PNG_METADATA)
    plt.close(fig)


def save_class_histograms(histograms: dict[str, dict[str, float]], path: Path) -> None:
    """Grouped bars: the share of each entry's samples the classifier reads as each digit."""
    digits = np.arange(NUM_CLASSES)
    width = 0.8 / len(histograms)
    fig, ax = plt.subplots(figsize=(10, 3.6), dpi=DPI)
    for i, (name, shares) in enumerate(histograms.items()):
        ax.bar(digits + (i - (len(histograms) - 1) / 2) * width, [shares[str(d)] for d in digits], width, label=name)
    ax.axhline(1 / NUM_CLASSES, color="grey", linewidth=0.8, linestyle="--", label="uniform (0.1)")
    ax.set_xticks(digits)
    ax.set_xlabel("digit the classifier reads (top class)")
    ax.set_ylabel("share of samples")
    ax.grid(alpha=0.3, axis="y")
    fig.legend(ncol=len(histograms) + 1, fontsize=8, loc="upper center", frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.92))  # room above the axes for the legend
    fig.savefig(path, format="png", metadata=PNG_METADATA)
    plt.close(fig)


def save_quality_curves(quality: dict[str, pd.DataFrame], reference_fid: float, path: Path) -> None:
    """FID of every model's averaged generator against its training step, on one log axis, with the
    lab reference's best FID in its 8 minutes as a line. Against step, not seconds, so that the same
    run draws the same bytes (`dvc plots show quality_fid_per_second` has the time axis)."""
    fig, ax = plt.subplots(figsize=(6.4, 4), dpi=DPI)
    for name, curve in quality.items():
        ax.plot(curve["step"], curve["fid"], marker="o", markersize=3, label=name)
    ax.axhline(reference_fid, color="grey", linestyle="--", label=f"lab reference, best in 8 min ({reference_fid:.1f})")
    ax.set(xlabel="training step", ylabel="FID (2,000 samples)", yscale="log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png", metadata=PNG_METADATA)
    plt.close(fig)
