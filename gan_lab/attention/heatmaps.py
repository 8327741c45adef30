"""Attention maps as pictures: one annotated heatmap, or a grid of them on one colour scale.

Rows are queries (the token that looks), columns are keys (the token looked at); each row sums
to 1. PNGs are written without a software stamp and at a fixed dpi, so the same weights give
the same bytes.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402

from gan_lab.plots import DPI, PNG_METADATA  # noqa: E402

COLOUR_MAP = "viridis"  # the lab's palette: violet for little attention, yellow for much


def draw_map(
    ax: Axes, weights: np.ndarray, labels: list[str], vmin: float, vmax: float, annotate: bool
) -> AxesImage:
    """Draw one (T, T) map on `ax`, with the tokens on both axes and, if asked, each weight."""
    image = ax.imshow(weights, cmap=COLOUR_MAP, vmin=vmin, vmax=vmax)
    ticks = range(len(labels))
    ax.set_xticks(ticks, labels, rotation=90)
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    if annotate:
        middle = (vmin + vmax) / 2
        for (row, col), weight in np.ndenumerate(weights):
            colour = "white" if weight < middle else "black"  # readable on dark and light cells
            ax.text(col, row, f"{weight:.2f}", ha="center", va="center", fontsize=7, color=colour)
    return image


def save_figure(fig: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, metadata=PNG_METADATA)
    plt.close(fig)


def save_heatmap(weights: np.ndarray, labels: list[str], title: str, path: Path) -> None:
    """One annotated map, coloured over its own range (as the lab's figures are)."""
    fig, ax = plt.subplots(figsize=(7, 6), layout="constrained")
    image = draw_map(ax, weights, labels, float(weights.min()), float(weights.max()), annotate=True)
    fig.colorbar(image, ax=ax, label="attention weight")
    ax.set_title(title)
    save_figure(fig, path)


def save_grid(
    maps: dict[tuple[int, int], np.ndarray], labels: list[str], embed_dims: tuple[int, ...],
    num_heads: tuple[int, ...], title: str, path: Path,
) -> None:
    """Maps keyed by (embed_dim, num_heads): a row per embed_dim, a column per head count, one
    colour scale from 0 to the largest weight so that panels can be compared by colour."""
    vmax = float(max(m.max() for m in maps.values()))
    rows, cols = len(embed_dims), len(num_heads)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.6 * cols + 1, 3.6 * rows + 0.6), layout="constrained", squeeze=False
    )
    for ax, (embed_dim, heads) in zip(axes.flat, ((d, h) for d in embed_dims for h in num_heads)):
        image = draw_map(ax, maps[embed_dim, heads], labels, 0.0, vmax, annotate=False)
        ax.set_title(f"embed_dim={embed_dim}, num_heads={heads}")
    fig.colorbar(image, ax=axes, label="attention weight", shrink=0.6)
    fig.suptitle(title)
    save_figure(fig, path)
