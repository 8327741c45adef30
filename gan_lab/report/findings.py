"""What the numbers say: the measures models are ranked on, the rankings, the collapse flags, the scale
from real data to an untrained generator, and the lab's CNN-vs-Transformer comparison. Every sentence
is computed from the metrics when the report renders.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from gan_lab.config import TRAINING_SECTIONS
from gan_lab.data import NUM_CLASSES
from gan_lab.names import COLLAPSED_COVERAGE, REAL, UNTRAINED, UNTRAINED_ARCHITECTURE
from gan_lab.report.loading import ReportData
from gan_lab.report.markdown import join_names

CNN, TRANSFORMER = "cnn", "transformer"  # the two sections the lab's closing question compares


@dataclass(frozen=True)
class Measure:
    """A number models are ranked on: where it lives, which direction is better, how to print it."""

    key: str
    header: str
    best: str  # "the lowest FID": what the leader has; "" for a column shown but not ranked
    higher_is_better: bool
    format: Callable[[Any], str]
    ranked: bool = True  # False: a table column with its direction, never ranked in the findings
    collapse_can_win: bool = False  # a collapsed generator can top it: rank only models not flagged
    aspect: str = ""  # what the ranking stands for ("Fidelity"), written before it

    def column(self) -> str:
        return f"{self.header} {'↑' if self.higher_is_better else '↓'}" if self.best else self.header


def _fraction(value: float) -> str:
    return f"{value:.3f}"


# Precision and recall are columns only: a generator that draws one image can reach precision 1 when
# that image lies in the large k-NN ball of an outlier real sample. Fidelity is ranked on density and
# variety on coverage (Naeem et al. 2020), and density (like the confident share and conditional
# accuracy) only among models not flagged as collapsed, since one well-placed image can top it.
FID = Measure("fid", "FID", "the lowest FID", False, "{:.2f}".format)
KID = Measure("kid", "KID", "the lowest KID", False, "{:.4f}".format)
KID_STD = Measure("kid_std", "KID std", "", False, "{:.4f}".format)  # KID's spread over its subsets
CONDITIONAL_ACCURACY = Measure(
    "conditional_accuracy", "cond. accuracy", "the highest conditional accuracy", True, _fraction,
    collapse_can_win=True,
)
DENSITY = Measure("density", "density", "the highest density", True, _fraction, collapse_can_win=True,
                  aspect="Fidelity")
COVERAGE = Measure("coverage", "coverage", "the highest coverage", True, _fraction, aspect="Variety")
DIGITS = Measure("digits_covered", "digits", "the most digits covered", True, "{:d}".format)
# A model is flagged as collapsed below COLLAPSED_COVERAGE (gan_lab/names.py), or as missing modes
# when it covers fewer than all ten digits.
QUALITY = (
    FID,
    KID,
    Measure("inception_score", "IS", "the highest Inception Score", True, "{:.2f}".format),
    Measure("precision", "precision", "the highest precision", True, _fraction, ranked=False),
    Measure("recall", "recall", "the highest recall", True, _fraction, ranked=False),
    DENSITY,
    COVERAGE,
    DIGITS,
    Measure("confident_fraction", "confident", "the most confidently read samples", True, _fraction,
            collapse_can_win=True),
    CONDITIONAL_ACCURACY,
)
THROUGHPUT = Measure("images_per_second", "images/s", "the fastest training per image", True, "{:.0f} images/s".format)
GENERATOR_SIZE = Measure("generator_parameters", "G params", "the smallest generator", False, "{:,} parameters".format)


def ranking(values: dict[str, float], measure: Measure) -> str:
    """'**a** has the lowest FID (1.00), then b (2.00), c (3.00)': leaders tie when equal."""
    order = sorted(values, key=lambda name: values[name], reverse=measure.higher_is_better)
    best = values[order[0]]
    leaders = [name for name in order if values[name] == best]
    verb = "has" if len(leaders) == 1 else "share"
    text = f"{join_names(leaders)} {verb} {measure.best} ({measure.format(best)})"
    rest = [f"{name} ({measure.format(values[name])})" for name in order if values[name] != best]
    text += (", then " + ", ".join(rest)) if rest else ""
    return f"{measure.aspect}: {text}" if measure.aspect else text


def described_entries(data: ReportData) -> dict[str, dict]:
    """For every table row: families, sizes, steps and timing (trained models only) and its scores."""
    entries = {
        name: {"generator_family": data.training[name]["generator"], **data.training[name], **data.scores[name]}
        for name in TRAINING_SECTIONS
    }
    untrained_from = data.training[UNTRAINED_ARCHITECTURE]
    entries[REAL] = {"generator_family": "MNIST train images", **data.scores[REAL]}
    entries[UNTRAINED] = {
        "generator_family": f"{untrained_from['generator']}, untrained",
        "generator_parameters": untrained_from["generator_parameters"],
        "steps": 0,
        **data.scores[UNTRAINED],
    }
    return entries


def gap_closed(score: float, floor: float, ceiling: float) -> float:
    """Where `score` sits between the untrained ceiling (0) and the real floor (1)."""
    return (ceiling - score) / (ceiling - floor)


def scale_sentence(entries: dict[str, dict], measure: Measure) -> str:
    floor, ceiling = entries[REAL][measure.key], entries[UNTRAINED][measure.key]
    if ceiling <= floor:
        return (f"On {measure.header} the untrained generator ({measure.format(ceiling)}) does not score above "
                f"real data ({measure.format(floor)}), so this run gives {measure.header} no scale.")
    parts = []
    for name in TRAINING_SECTIONS:
        share = gap_closed(entries[name][measure.key], floor, ceiling)
        note = " (worse than untrained)" if share < 0 else ""
        parts.append(f"{name} {share:.0%}{note}")
    return (f"On {measure.header} the scale runs from {measure.format(floor)} (real data) to "
            f"{measure.format(ceiling)} (untrained); the share of that gap each model closes: {', '.join(parts)}.")


def collapse_flags(entries: dict[str, dict]) -> dict[str, str]:
    """Trained models that look collapsed (coverage under COLLAPSED_COVERAGE) or miss digits, each with
    the sentence that says so."""
    can_win = ", ".join(m.header for m in QUALITY if m.collapse_can_win)
    flags = {}
    for name in TRAINING_SECTIONS:
        entry = entries[name]
        coverage, digits = entry[COVERAGE.key], entry[DIGITS.key]
        digits_text = f"{digits} of {NUM_CLASSES} digits covered"
        if coverage < COLLAPSED_COVERAGE:
            text = (f"**{name}** is flagged as collapsed: coverage {COVERAGE.format(coverage)}, under "
                    f"{COLLAPSED_COVERAGE} (real data: {COVERAGE.format(entries[REAL][COVERAGE.key])}), and {digits_text}")
        elif digits < NUM_CLASSES:
            text = f"**{name}** is flagged as missing modes: {digits_text} (coverage {COVERAGE.format(coverage)})"
        else:
            continue
        text += f". The rankings a collapsed generator can top ({can_win}) leave it out"
        if entry["precision"] > 0:
            text += (f"; its precision of {entry['precision']:.3f} only says that its samples fall inside "
                     "some real images' k-NN balls, not that they look real or vary")
        flags[name] = text + "."
    return flags


def findings(entries: dict[str, dict]) -> str:
    models = {name: entries[name] for name in TRAINING_SECTIONS}
    flags = collapse_flags(entries)
    lines = [scale_sentence(entries, FID), scale_sentence(entries, KID), *flags.values()]
    for measure in (*QUALITY, THROUGHPUT, GENERATOR_SIZE):
        if not measure.ranked:
            continue
        values = {name: entry[measure.key] for name, entry in models.items() if entry.get(measure.key) is not None}
        if len(values) > 1 and measure.collapse_can_win:
            left_out = [name for name in values if name in flags]
            values = {name: value for name, value in values.items() if name not in flags}
            if not values:
                lines.append(f"No model is ranked on {measure.header}: {', '.join(left_out)} are flagged above.")
            else:
                note = f"; not ranked: {', '.join(left_out)} (flagged above)" if left_out else ""
                lines.append(ranking(values, measure) + note + ".")
        elif len(values) > 1:
            lines.append(ranking(values, measure) + ".")
        elif values:
            (name, value), = values.items()
            line = f"Only **{name}** reports {measure.header}: {measure.format(value)}"
            if measure is CONDITIONAL_ACCURACY:
                line += f" (a generator that ignores its label would score about {1 / NUM_CLASSES:.1f})"
            lines.append(line + ".")
    return "\n".join(f"- {line}" for line in lines)


def cnn_vs_transformer(entries: dict[str, dict]) -> str:
    """The lab's closing comparison, in numbers: the `transformer` section against the `cnn` one."""
    cnn, transformer = entries[CNN], entries[TRANSFORMER]
    fid = ("the same as" if transformer["fid"] == cnn["fid"]
           else "better (lower) than" if transformer["fid"] < cnn["fid"] else "worse (higher) than")
    text = (
        f"In this run the `{TRANSFORMER}` GAN ({transformer['generator']} generator, "
        f"{transformer['discriminator']} discriminator) reached an FID of {transformer['fid']:.2f}, {fid} "
        f"the {cnn['fid']:.2f} of the `{CNN}` GAN ({cnn['generator']} against {cnn['discriminator']}), and "
        f"covered {transformer['digits_covered']} digits against {cnn['digits_covered']} (coverage "
        f"{COVERAGE.format(transformer['coverage'])} against {COVERAGE.format(cnn['coverage'])}), with "
        f"{transformer['generator_parameters']:,} generator parameters against {cnn['generator_parameters']:,}."
    )
    speeds = transformer["images_per_second"], cnn["images_per_second"]
    if None in speeds:  # a run too short to time
        return text
    ratio = speeds[0] / speeds[1]
    pace = "as fast" if ratio == 1 else f"{ratio:.1f}× faster" if ratio > 1 else f"{1 / ratio:.1f}× slower"
    text += f" It trained at {speeds[0]:.0f} images/s against {speeds[1]:.0f}: {pace} per image"
    policies = transformer.get("dtype_policy"), cnn.get("dtype_policy")
    if None not in policies and policies[0] != policies[1]:  # `train.precision: auto` chose differently
        return text + f" ({policies[0]} against {policies[1]}, `train.precision` on this machine)."
    return text + "."
