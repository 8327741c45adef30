"""The report's Markdown sections: environment, speed, params, the results table, samples, losses and
the attention study."""
from __future__ import annotations

import os
import platform
import re
from pathlib import Path
from typing import Any, Callable

import yaml

from gan_lab.config import TRAINING_SECTIONS
from gan_lab.errors import DataError
from gan_lab.report.findings import FID, KID, KID_STD, QUALITY
from gan_lab.report.loading import ATTENTION, ReportData, model_file
from gan_lab.report.machine import cpu_model, package_version
from gan_lab.report.markdown import seconds_text, table


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


def results_table(entries: dict[str, dict]) -> str:
    def cell(entry: dict, key: str, render: Callable[[Any], str]) -> str:
        return render(entry[key]) if entry.get(key) is not None else "–"

    header = ["", "G", "D", "conditional", "G params", "D params", "steps", "wall time", "images/s", "trained in"]
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
            cell(entry, "dtype_policy", str),
            *(cell(entry, m.key, m.format) for m in scores),
        ])
    return table(header, rows)


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


def quality_table(data: ReportData) -> str:
    """Per model: its quality points, final FID, the step it came within 10 % of it, whether it still
    improved at the end, its last confident and rarest-digit shares, and the collapse warning."""
    def warning(verdict: dict) -> str:
        found = verdict["collapse"]
        return "none" if found is None else f"**at step {found['step']:,}** (coverage {found['coverage']:.3f}, {found['digits']} digits)"

    rows = []
    for name in TRAINING_SECTIONS:
        verdict, curve = data.quality_summary[name], data.quality[name]
        rows.append([f"**{name}**", f"{verdict['points']}", f"{verdict['final_fid']:.1f} (best {verdict['best_fid']:.1f})",
                     f"{verdict['within_10_percent_step']:,} of {verdict['final_step']:,}",
                     "yes" if verdict["still_improving"] else "no",
                     f"{curve['confident'].iloc[-1]:.0%}", f"{curve['rarest'].iloc[-1]:.1%}", warning(verdict)])
    return table(["", "points", "final FID", "within 10 % of final FID at step", "still improving at the end",
                  "confident at the end", "rarest digit at the end", "collapse warning"], rows)


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
