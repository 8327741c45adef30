"""Pictures of training: sample grids, the snapshot GIF and the loss curves.

Grids and GIFs are drawn with Pillow straight from the pixels (no figure machinery, no metadata),
so identical samples give byte-identical files.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

DPI = 100  # every matplotlib figure's resolution: fixed, so the same numbers give the same bytes
PNG_METADATA = {"Software": None}  # matplotlib would otherwise stamp its version into each PNG


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Generator output in [-1, 1], shape (N, 28, 28, 1) -> uint8 [0, 255], shape (N, 28, 28): MNIST's form."""
    return np.clip((np.asarray(images)[..., 0] + 1.0) * 127.5, 0, 255).round().astype(np.uint8)


def image_grid(images: np.ndarray, cols: int, scale: int = 2, pad: int = 2) -> np.ndarray:
    """Tile images in [-1, 1] of shape (N, 28, 28, 1) into one uint8 picture, `cols` per row."""
    pixels = to_uint8(images)
    pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)
    rows = -(-len(pixels) // cols)
    h, w = pixels.shape[1:]
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), 128, np.uint8)
    for i, tile in enumerate(pixels):
        r, c = divmod(i, cols)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = tile
    return grid


def save_png(grid: np.ndarray, path: Path) -> None:
    Image.fromarray(grid).save(path, format="PNG")


def captioned(grid: np.ndarray, caption: str) -> np.ndarray:
    """The grid with a caption strip above it (used for the GIF frames: 'step 250')."""
    frame = Image.new("L", (grid.shape[1], grid.shape[0] + 14), 255)
    frame.paste(Image.fromarray(grid), (0, 14))
    ImageDraw.Draw(frame).text((4, 1), caption, fill=0)
    return np.asarray(frame)


def save_gif(frames: list[np.ndarray], path: Path, frame_ms: int = 300, last_frame_ms: int = 2000) -> None:
    """An animated, looping GIF; the last frame is held longer so the final result can be read."""
    images = [Image.fromarray(f) for f in frames]
    durations = [frame_ms] * (len(images) - 1) + [last_frame_ms]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)


LOSS_COLOURS = {"d_loss": "tab:orange", "g_loss": "tab:blue"}
SMOOTH = 50  # rolling-mean window of the loss curves


def draw_losses(ax: plt.Axes, history: pd.DataFrame, title: str) -> None:
    """Generator and discriminator losses per step (faint) with a rolling mean (solid)."""
    for column, colour in LOSS_COLOURS.items():
        ax.plot(history["step"], history[column], color=colour, alpha=0.25, linewidth=0.8)
        rolling = history[column].rolling(SMOOTH, min_periods=1).mean()
        ax.plot(history["step"], rolling, color=colour, label=f"{column} (mean of {SMOOTH} steps)")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)


def save_loss_plot(history: pd.DataFrame, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(8, 4), dpi=DPI)
    draw_losses(ax, history, title)
    ax.set_ylabel("binary cross-entropy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png", metadata=PNG_METADATA)
    plt.close(fig)
