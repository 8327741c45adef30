"""The final report, reports/report.md, filled in from what the stages wrote.

The prose lives in gan_lab/report/template.md; this module computes every `${placeholder}` in it.
No comparison is written in advance: which model has the lowest FID, which trained fastest per
image, how much attention sharpened with training, is decided here from the numbers, every time the
report renders. No TensorFlow is imported, so a template edit re-renders in seconds.
"""
from __future__ import annotations

import json
import os
import platform
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import yaml

from gan_lab.config import TRAINING_SECTIONS, read_params
from gan_lab.errors import DataError, GanLabError
from gan_lab.report.machine import cpu_model, package_version
from gan_lab.names import REAL, UNTRAINED, UNTRAINED_ARCHITECTURE
from gan_lab.model_io import atomic_write
from gan_lab.report.figures import save_class_histograms, save_losses_side_by_side

TEMPLATE = Path(__file__).with_name("template.md")
REPORTS = Path("reports")
EVALUATION = REPORTS / "evaluation"
ATTENTION = REPORTS / "attention"
LOSSES_FIGURE, HISTOGRAMS_FIGURE = "losses.png", "class_histograms.png"
SPEED = Path("bench/results/train_speed.json")  # written by bench/train_speed.py, committed to git
CNN, TRANSFORMER = "cnn", "transformer"  # the two sections the lab's closing question compares
NUM_DIGITS = 10


def model_file(name: str, file: str) -> Path:
    return REPORTS / name / file


def input_files() -> list[Path]:
    """The files the report reads or links, relative to the project root: the report stage's deps."""
    per_model = ["metrics.json", "timing.json", "losses.csv", "samples.png", "progress.gif"]
    return [
        *(model_file(name, file) for name in TRAINING_SECTIONS for file in per_model),
        *(EVALUATION / file for file in ("metrics.json", "class_histograms.json", "timing.json")),
        REPORTS / "classifier" / "metrics.json",
        *(ATTENTION / file for file in ("metrics.json", "grid_random.png", "grid_trained.png",
                                        "heatmap.png", "heatmap_trained.png")),
        SPEED,
        Path("params.yaml"),
    ]


# dvc.yaml says which params each stage reads. DVC refuses it as a dependency, so a change to a
# stage's `params:` list alone does not re-render the report (any change of a value does).
PIPELINE = Path("dvc.yaml")


# --- reading -------------------------------------------------------------------------------------

def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: not found; run `dvc repro` (or the stage that writes it) first") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None


@dataclass(frozen=True)
class ReportData:
    """The stages' outputs, as the report needs them."""

    training: dict[str, dict]  # section -> its metrics.json and timing.json merged
    scores: dict[str, dict]  # section, `real`, `untrained` -> evaluation metrics
    histograms: dict[str, dict[str, float]]
    evaluation_timing: dict
    classifier: dict
    attention: dict
    speed: dict  # bench/train_speed.py's latest table
    losses: dict[str, pd.DataFrame]
    params: dict
    stage_params: dict[str, list[str]]  # dvc.yaml stage -> the params it declares


def load(root: Path) -> ReportData:
    """Read every input; a missing one is a DataError naming it, before anything is written."""
    for relative in (*input_files(), PIPELINE):
        if not (root / relative).is_file():
            raise DataError(f"{root / relative}: not found; run `dvc repro` (or the stage that writes it) first")
    stages = yaml.safe_load((root / PIPELINE).read_text()).get("stages", {})
    return ReportData(
        training={
            name: {**read_json(root / model_file(name, "metrics.json")), **read_json(root / model_file(name, "timing.json"))}
            for name in TRAINING_SECTIONS
        },
        scores=read_json(root / EVALUATION / "metrics.json"),
        histograms=read_json(root / EVALUATION / "class_histograms.json"),
        evaluation_timing=read_json(root / EVALUATION / "timing.json"),
        classifier=read_json(root / REPORTS / "classifier" / "metrics.json"),
        attention=read_json(root / ATTENTION / "metrics.json"),
        speed=read_json(root / SPEED),
        losses={name: pd.read_csv(root / model_file(name, "losses.csv")) for name in TRAINING_SECTIONS},
        params=read_params(root / "params.yaml"),
        stage_params={stage: [str(p) for p in spec.get("params", [])] for stage, spec in stages.items()},
    )


# --- formatting ----------------------------------------------------------------------------------

def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def seconds_text(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def join_names(names: list[str]) -> str:
    bold = [f"**{name}**" for name in names]
    return bold[0] if len(bold) == 1 else ", ".join(bold[:-1]) + " and " + bold[-1]


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
# A model is flagged as collapsed below this coverage (real data scores far above it), or as
# missing modes when it covers fewer than all ten digits.
COLLAPSED_COVERAGE = 0.1
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


# --- the sections --------------------------------------------------------------------------------

def environment_section(data: ReportData) -> str:
    device = data.evaluation_timing["device"]
    rows = [
        ["Python", platform.python_version()],
        *([name, package_version(module)] for name, module in
          (("TensorFlow", "tensorflow"), ("Keras", "keras"), ("DVC", "dvc"), ("NumPy", "numpy"))),
        ["OS", f"{platform.system()} {platform.release()} ({platform.machine()})"],
        ["CPU", f"{cpu_model()}, {os.cpu_count()} cores"],
        ["GPU", "none: TensorFlow ran on the CPU" if device == "CPU" else device],
    ]
    return table(["", "version or device"], rows)


def speed_section(speed: dict) -> str:
    """bench/train_speed.py's table: the lab's loop, the tutorial's step and this project's, side by side."""
    def work(row: dict) -> list[str]:
        if row["gflop_per_step"] is None:
            return ["n/a"] * 3
        return [f"{row['gflop_per_step']:.1f}", f"{row['gflop_per_second']:.0f}",
                f"{row['gflop_per_second'] / speed['matmul_gflops']['float32']:.0%}"]

    rows = [[row["recipe"], f"{row['s_per_step']:.3f}", f"{row['images_per_second']:.0f}",
             f"{row['speedup_vs_lab_loop']:.2f}×", f"{row['speedup_vs_two_tape']:.2f}×", *work(row)]
            for row in speed["recipes"]]
    machine = speed["machine"]
    intro = (f"Batch {speed['batch']}, median of {speed['rounds']} interleaved rounds of {speed['steps_per_round']} "
             f"steps per recipe, on {machine['cpu']} ({machine['cores']} cores, TensorFlow {machine['tensorflow']}); "
             f"a float32 matrix product reaches {speed['matmul_gflops']['float32']:.0f} GFLOP/s there (\"peak\").")
    header = ["recipe", "s/step", "images/s", "vs (a)", "vs (b)", "GFLOP/step", "GFLOP/s", "of peak"]
    return intro + "\n\n" + table(header, rows)


def params_section(data: ReportData) -> str:
    rows = [[f"`{stage}`", ", ".join(f"`{p}`" for p in keys) or "none"] for stage, keys in data.stage_params.items()]
    used = {key.split(".")[0] for keys in data.stage_params.values() for key in keys}
    values = {section: value for section, value in data.params.items() if section in used}
    block = yaml.safe_dump(values, sort_keys=False, default_flow_style=None).rstrip()
    return table(["stage", "reads from params.yaml"], rows) + f"\n\n```yaml\n{block}\n```"


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


def results_table(entries: dict[str, dict]) -> str:
    def cell(entry: dict, key: str, render: Callable[[Any], str]) -> str:
        return render(entry[key]) if entry.get(key) is not None else "–"

    header = ["", "G", "D", "conditional", "G params", "D params", "steps", "wall time", "images/s"]
    scores = [FID, KID, KID_STD, *QUALITY[2:]]
    header += [m.column() for m in scores]
    rows = []
    for name, entry in entries.items():
        rows.append([
            f"**{name}**",
            entry["generator_family"],
            entry.get("discriminator", "–"),
            cell(entry, "conditional", lambda c: "yes" if c else "no"),
            cell(entry, "generator_parameters", "{:,}".format),
            cell(entry, "discriminator_parameters", "{:,}".format),
            cell(entry, "steps", "{:,}".format),
            cell(entry, "wall_seconds", seconds_text),
            cell(entry, "images_per_second", "{:.0f}".format),
            *(cell(entry, m.key, m.format) for m in scores),
        ])
    return table(header, rows)


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
        digits_text = f"{digits} of {NUM_DIGITS} digits covered"
        if coverage < COLLAPSED_COVERAGE:
            text = (f"**{name}** is flagged as collapsed: coverage {COVERAGE.format(coverage)}, under "
                    f"{COLLAPSED_COVERAGE} (real data: {COVERAGE.format(entries[REAL][COVERAGE.key])}), and {digits_text}")
        elif digits < NUM_DIGITS:
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
                line += f" (a generator that ignores its label would score about {1 / NUM_DIGITS:.1f})"
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
    return text + f" It trained at {speeds[0]:.0f} images/s against {speeds[1]:.0f}: {pace} per image."


class Links:
    """Relative links from the report's folder, so the Markdown renders from any checkout."""

    def __init__(self, root: Path, report: Path):
        self.root, self.base = root, report.parent

    def __call__(self, relative: Path) -> str:
        target = self.root / relative
        if not target.is_file():
            raise DataError(f"{target}: the report links it, but it does not exist")
        return Path(os.path.relpath(target, self.base)).as_posix()


def samples_section(data: ReportData, link: Links) -> str:
    def networks(name: str) -> str:
        entry = data.training[name]
        rows = "; rows are digits 0–9" if entry["conditional"] else ""
        return f"{entry['generator']} G vs {entry['discriminator']} D, {entry['steps']:,} steps{rows}"

    names = list(TRAINING_SECTIONS)
    return table(
        ["", *names],
        [
            ["networks", *(networks(name) for name in names)],
            ["final samples", *(f"![{name} samples]({link(model_file(name, 'samples.png'))})" for name in names)],
            ["training, fixed noise", *(f"![{name} progress]({link(model_file(name, 'progress.gif'))})" for name in names)],
        ],
    )


def losses_table(data: ReportData) -> str:
    keys = ("final_d_loss", "final_g_loss", "final_d_real", "final_d_fake")
    rows = [[f"**{name}**", *(f"{data.training[name][key]:.3f}" for key in keys)] for name in TRAINING_SECTIONS]
    return table(["", "D loss", "G loss", "D(x)", "D(G(z))"], rows)


SETTING_NAME = re.compile(r"embed(\d+)_heads(\d+)")


def setting_label(name: str) -> str:
    match = SETTING_NAME.fullmatch(name)
    return f"{match[1]} × {match[2]}" if match else name


def attention_section(attention: dict, link: Links) -> str:
    random, trained, uniform = attention["random"], attention["trained"], attention["uniform_entropy"]
    names = sorted(random, key=lambda n: tuple(int(x) for x in SETTING_NAME.fullmatch(n).groups())
                   if SETTING_NAME.fullmatch(n) else (0, 0))
    rows = [
        [setting_label(n), f"{random[n]['mean_entropy']:.3f}", f"{random[n]['max_weight']:.2f}",
         f"{trained[n]['mean_entropy']:.3f}", f"{trained[n]['max_weight']:.2f}",
         f"{trained[n]['padding_weight']:.3f}", f"{trained[n]['loss']:.2g}"]
        for n in names
    ]
    header = ["embed_dim × heads", "random: entropy", "random: max weight", "trained: entropy",
              "trained: max weight", "trained: padding weight", "trained: loss"]
    random_entropy = [random[n]["mean_entropy"] for n in names]
    trained_entropy = [trained[n]["mean_entropy"] for n in names]
    drops = [random[n]["mean_entropy"] / trained[n]["mean_entropy"] for n in names if trained[n]["mean_entropy"] > 0]
    sharpest = min(names, key=lambda n: trained[n]["mean_entropy"])
    flattest = max(names, key=lambda n: trained[n]["mean_entropy"])
    deviation = max(abs(e - uniform) for e in random_entropy) / uniform
    statements = [
        f"A perfectly uniform row has an entropy of {uniform:.3f} nats.",
        f"With random embeddings the mean row entropy is {min(random_entropy):.3f} to {max(random_entropy):.3f} "
        f"nats across the {len(names)} settings, within {deviation:.1%} of uniform: untrained attention is "
        "close to flat, and its pattern reflects the seed rather than the setting.",
        f"After training it is {min(trained_entropy):.3f} to {max(trained_entropy):.3f} nats"
        + (f", {min(drops):.1f} to {max(drops):.1f} times lower than the same setting's random maps" if drops else "")
        + f"; the largest single weight reaches {max(trained[n]['max_weight'] for n in names):.2f}.",
        f"The sharpest trained setting is {setting_label(sharpest)} ({trained[sharpest]['mean_entropy']:.3f} nats), "
        f"the most diffuse {setting_label(flattest)} ({trained[flattest]['mean_entropy']:.3f} nats).",
    ]
    figures = (
        f"| random embeddings | trained embeddings |\n|---|---|\n"
        f"| ![random]({link(ATTENTION / 'grid_random.png')}) | ![trained]({link(ATTENTION / 'grid_trained.png')}) |\n\n"
        f"The lab's own figure (embed_dim 64, 4 heads, every weight printed): "
        f"[random]({link(ATTENTION / 'heatmap.png')}), [trained]({link(ATTENTION / 'heatmap_trained.png')})."
    )
    return "\n\n".join([figures, table(header, rows), "\n".join(f"- {s}" for s in statements)])


# --- rendering -----------------------------------------------------------------------------------

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
        "attention": attention_section(data.attention, link),
        "cnn_vs_transformer": cnn_vs_transformer(entries),
    }


def write_figures(data: ReportData, root: Path, figures_dir: Path) -> dict[str, Path]:
    """Draw the report's figures; return their paths relative to `root`."""
    titles = {name: f"{name}: {data.training[name]['generator']} G vs {data.training[name]['discriminator']} D"
              for name in TRAINING_SECTIONS}
    paths = {name: figures_dir / name for name in (LOSSES_FIGURE, HISTOGRAMS_FIGURE)}
    with atomic_write(root / paths[LOSSES_FIGURE]) as tmp:
        save_losses_side_by_side(data.losses, titles, tmp)
    with atomic_write(root / paths[HISTOGRAMS_FIGURE]) as tmp:
        save_class_histograms(data.histograms, tmp)
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

