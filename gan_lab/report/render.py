"""The final report, reports/report.md, filled in from what the stages wrote.

The prose lives in gan_lab/report/template.md; this module computes every `${placeholder}` in it, from
the inputs `loading` reads, the sentences of `findings` and the tables and figures of `sections`.
No comparison is written in advance: which model has the lowest FID, which trained fastest per
image, how much attention sharpened with training, is decided from the numbers, every time the
report renders. No TensorFlow is imported, so a template edit re-renders in seconds.
"""
from __future__ import annotations

import string
from pathlib import Path

from gan_lab.config import TRAINING_SECTIONS
from gan_lab.errors import DataError, GanLabError
from gan_lab.model_io import atomic_write
from gan_lab.names import COLLAPSED_COVERAGE, REAL, UNTRAINED_ARCHITECTURE
from gan_lab.report.figures import save_class_histograms, save_losses_side_by_side, save_quality_curves
from gan_lab.report.findings import cnn_vs_transformer, described_entries, findings
from gan_lab.report.loading import REPORTS, ReportData, load
from gan_lab.report.sections import (
    Links,
    attention_section,
    environment_section,
    losses_table,
    params_section,
    quality_table,
    results_table,
    samples_section,
    speed_section,
)

TEMPLATE = Path(__file__).with_name("template.md")
LOSSES_FIGURE, HISTOGRAMS_FIGURE, QUALITY_FIGURE = "losses.png", "class_histograms.png", "quality.png"


def placeholders(data: ReportData, link: Links, figures: dict[str, Path]) -> dict[str, str]:
    entries = described_entries(data)
    return {
        "environment": environment_section(data),
        "speed": speed_section(data.speed),
        "params": params_section(data),
        "n_samples": f"{data.scores[REAL]['n_samples']:,}",
        "classifier_accuracy": f"{data.classifier['test_accuracy']:.2%}",
        "untrained_architecture": UNTRAINED_ARCHITECTURE,
        "collapsed_coverage": f"{COLLAPSED_COVERAGE}",
        "results_table": results_table(entries),
        "findings": findings(entries),
        "class_histograms": link(figures[HISTOGRAMS_FIGURE]),
        "samples": samples_section(data, link),
        "losses_figure": link(figures[LOSSES_FIGURE]),
        "losses_table": losses_table(data),
        "quality_figure": link(figures[QUALITY_FIGURE]),
        "quality_table": quality_table(data),
        "reference_fid": f"{data.lab_reference['reference_fid']:.1f}",
        "reference_minutes": f"{data.lab_reference['reference_seconds'] / 60:.1f}",
        "attention": attention_section(data.attention, link),
        "cnn_vs_transformer": cnn_vs_transformer(entries),
    }


def write_figures(data: ReportData, root: Path, figures_dir: Path) -> dict[str, Path]:
    """Draw the report's figures; return their paths relative to `root`."""
    titles = {name: f"{name}: {data.training[name]['generator']} G vs {data.training[name]['discriminator']} D"
              for name in TRAINING_SECTIONS}
    paths = {name: figures_dir / name for name in (LOSSES_FIGURE, HISTOGRAMS_FIGURE, QUALITY_FIGURE)}
    with atomic_write(root / paths[LOSSES_FIGURE]) as tmp:
        save_losses_side_by_side(data.losses, titles, tmp)
    with atomic_write(root / paths[HISTOGRAMS_FIGURE]) as tmp:
        save_class_histograms(data.histograms, tmp)
    with atomic_write(root / paths[QUALITY_FIGURE]) as tmp:
        save_quality_curves(data.quality, data.lab_reference["reference_fid"], tmp)
    return paths


def render_report(
    root: Path = Path("."),
    out: Path = REPORTS / "report.md",
    figures_dir: Path = REPORTS / "figures",
    template: Path = TEMPLATE,
) -> str:
    """Read the stages' outputs under `root`, draw the figures, write `out` (paths relative to `root`)."""
    data = load(root)
    try:
        values = placeholders(data, Links(root, root / out), write_figures(data, root, figures_dir))
    except KeyError as exc:
        raise DataError(f"a report input lacks the key {exc}; rerun the stages (`dvc repro`)") from None
    try:
        text = string.Template(template.read_text()).substitute(values)
    except KeyError as exc:
        raise GanLabError(f"{template}: unknown placeholder ${{{exc.args[0]}}}; known: {', '.join(values)}") from None
    with atomic_write(root / out) as tmp:
        tmp.write_text(text)
    return text

