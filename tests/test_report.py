"""The report stage on fabricated but consistent stage outputs: comparisons follow the numbers,
links are relative and resolve, reruns give identical bytes, and TensorFlow is never imported."""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from conftest import ROOT, run
from gan_lab.config import TRAINING_SECTIONS
from gan_lab.errors import DataError
from gan_lab.report.loading import input_files
from gan_lab.report.render import render_report

FAMILIES = {  # section -> (generator, discriminator, conditional)
    "cnn": ("cnn", "cnn", False),
    "transformer": ("transformer", "transformer", False),
    "combined": ("transformer", "cnn", True),
}
SCORES = {  # entry -> (fid, kid, inception_score, precision, recall, density, coverage, digits_covered)
    "cnn": (20.0, 0.02, 8.5, 0.80, 0.60, 0.90, 0.70, 10),
    "transformer": (60.0, 0.06, 6.0, 0.50, 0.30, 0.40, 0.30, 7),
    "combined": (35.0, 0.04, 7.5, 0.70, 0.50, 0.80, 0.55, 10),
    "real": (2.0, 0.0001, 9.7, 0.75, 0.75, 0.92, 0.83, 10),
    "untrained": (400.0, 0.9, 1.1, 0.0, 0.0, 0.0, 0.0, 0),
}
# A generator that draws one all-black image, as measured in the default run: inside the k-NN balls
# of two outlier test images, so precision 1 and (here) the highest density and confident share.
COLLAPSED = (550.0, 26.7, 1.0, 1.0, 0.0, 1.5, 0.0002, 0)
SPEED = {"cnn": 150.0, "transformer": 40.0, "combined": 60.0}


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def write_image(path: Path, frames: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(np.full((20, 20), 40 * i, np.uint8)) for i in range(frames)]
    images[0].save(path, save_all=frames > 1, append_images=images[1:])


def scores_entry(name: str, scores: dict) -> dict:
    fid, kid, inception, precision, recall, density, coverage, digits = scores[name]
    entry = {"n_samples": 1000, "fid": fid, "kid": kid, "kid_std": kid / 10, "inception_score": inception,
             "precision": precision, "recall": recall, "density": density, "coverage": coverage,
             "confident_fraction": precision, "digits_covered": digits}
    if name in FAMILIES and FAMILIES[name][2]:
        entry["conditional_accuracy"] = 0.87
    return entry


def fabricate(root: Path, scores: dict = SCORES, speed: dict = SPEED) -> Path:
    """Every file the report reads, with the shapes the stages write them in."""
    steps = np.arange(1, 101)
    for name, (generator, discriminator, conditional) in FAMILIES.items():
        reports = root / "reports" / name
        write_json(reports / "metrics.json", {
            "steps": 100, "generator": generator, "discriminator": discriminator, "conditional": conditional,
            "generator_parameters": 1_000_000 if generator == "cnn" else 400_000,
            "discriminator_parameters": 100_000, "final_d_loss": 1.2, "final_g_loss": 0.9,
            "final_d_real": 0.55, "final_d_fake": 0.45,
        })
        write_json(reports / "timing.json", {"wall_seconds": 6400 / speed[name], "images_per_second": speed[name]})
        pd.DataFrame({"step": steps, "d_loss": 1 + 0.1 * np.sin(steps), "g_loss": 1 - 0.1 * np.sin(steps),
                      "d_real": 0.5, "d_fake": 0.5, "d_real_accuracy": 0.5, "d_fake_accuracy": 0.5,
                      }).to_csv(reports / "losses.csv", index=False)
        write_image(reports / "samples.png")
        write_image(reports / "progress.gif", frames=3)
        pd.DataFrame({"step": [40, 80, 100], "train_seconds": [2.0, 4.0, 5.0], "fid": [90.0, 40.0, 30.0],
                      "confident": [0.4, 0.6, 0.7], "precision": 0.5, "coverage": 0.5, "digits": 10,
                      "rarest": 0.06}).to_csv(reports / "quality.csv", index=False)
    write_json(root / "reports" / "quality" / "metrics.json", {name: {
        "points": 3, "final_step": 100, "final_fid": 30.0, "best_fid": 30.0, "within_10_percent_step": 100,
        "still_improving": name != "transformer",
        "collapse": {"step": 80, "coverage": 0.05, "digits": 7} if name == "transformer" else None,
    } for name in FAMILIES})
    write_json(root / "bench" / "results" / "time_to_quality.json",
               {"samples": 2000, "every": 250, "rows": [], "reference_fid": 51.97, "reference_seconds": 438.3})
    evaluation = root / "reports" / "evaluation"
    write_json(evaluation / "metrics.json", {name: scores_entry(name, scores) for name in scores})
    write_json(evaluation / "class_histograms.json", {name: {str(d): 0.1 for d in range(10)} for name in scores})
    write_json(evaluation / "timing.json", {"seconds": {"total": 60.0}, "device": "CPU", "cpu_count": 2})
    write_json(root / "reports" / "classifier" / "metrics.json", {"test_accuracy": 0.9919, "test_loss": 0.02})
    attention = root / "reports" / "attention"
    settings = {"embed32_heads2": (1.75, 0.35), "embed64_heads4": (1.76, 0.46), "embed128_heads8": (1.77, 0.53)}
    write_json(attention / "metrics.json", {
        "uniform_entropy": 1.7918,
        "random": {n: {"max_weight": 0.3, "mean_entropy": r, "padding_weight": 0.0} for n, (r, _) in settings.items()},
        "trained": {n: {"max_weight": 1.0, "mean_entropy": t, "padding_weight": 0.0, "loss": 1e-6}
                    for n, (_, t) in settings.items()},
    })
    for name in ("grid_random", "grid_trained", "heatmap", "heatmap_trained"):
        write_image(attention / f"{name}.png")
    write_json(root / "bench" / "results" / "train_speed.json", {
        "batch": 128, "rounds": 5, "steps_per_round": 20, "quick": False,
        "machine": {"cpu": "Test CPU", "cores": 2, "tensorflow": "2.21.0"},
        "matmul_gflops": {"float32": 200.0, "bfloat16": 50.0},
        "recipes": [
            {"recipe": "(a) lab loop", "s_per_step": 0.5, "images_per_second": 256.0, "speedup_vs_lab_loop": 1.0,
             "speedup_vs_two_tape": 0.5, "gflop_per_step": None, "gflop_per_second": None},
            {"recipe": "(b) two-tape", "s_per_step": 0.25, "images_per_second": 512.0, "speedup_vs_lab_loop": 2.0,
             "speedup_vs_two_tape": 1.0, "gflop_per_step": 50.0, "gflop_per_second": 200.0},
        ],
    })
    (root / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        "prepare": {"cmd": "python -m stages.prepare"},
        "train_cnn": {"cmd": "python -m stages.train cnn", "params": ["seed", "train", "cnn"]},
        "evaluate": {"cmd": "python -m stages.evaluate", "params": ["seed", "evaluate"]},
    }}))
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return fabricate(tmp_path / "project")


def test_comparisons_follow_the_numbers(project):
    text = render_report(project)
    assert "**cnn** has the lowest FID (20.00), then combined (35.00), transformer (60.00)." in text
    assert "**cnn** and **combined** share the most digits covered (10), then transformer (7)." in text
    assert "**cnn** has the fastest training per image (150 images/s)" in text
    assert "**transformer** and **combined** share the smallest generator (400,000 parameters), then cnn" in text
    assert "Only **combined** reports cond. accuracy: 0.870 (a generator that ignores its label" in text
    assert "better (lower) than" not in text and "worse (higher) than the 20.00" in text
    assert "It trained at 40 images/s against 150: 3.8× slower per image." in text

    swapped = {**SCORES, "cnn": SCORES["transformer"], "transformer": SCORES["cnn"]}
    fabricate(project, swapped, {**SPEED, "cnn": 40.0, "transformer": 150.0})
    text = render_report(project)
    assert "**transformer** has the lowest FID (20.00), then combined (35.00), cnn (60.00)." in text
    assert "**transformer** has the fastest training per image (150 images/s)" in text
    assert "better (lower) than the 60.00" in text
    assert "It trained at 150 images/s against 40: 3.8× faster per image." in text


def test_report_says_which_precision_each_model_trained_in(project):
    """`train.precision: auto` trains the CNN in bfloat16 on some machines: the results table says so
    per model, and the speed comparison names both precisions when they differ."""
    assert "It trained at 40 images/s against 150: 3.8× slower per image." in render_report(project)  # not recorded
    for name, policy in (("cnn", "mixed_bfloat16"), ("transformer", "float32"), ("combined", "float32")):
        timing = project / "reports" / name / "timing.json"
        timing.write_text(json.dumps({**json.loads(timing.read_text()), "dtype_policy": policy}))
    text = render_report(project)
    assert "3.8× slower per image (float32 against mixed_bfloat16, `train.precision` on this machine)." in text
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|  | G | D |"))  # the results table
    column = lines[start].split(" | ").index("trained in")
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows[line.split(" | ")[0]] = line.split(" | ")
    assert rows["| **cnn**"][column] == "mixed_bfloat16" and rows["| **transformer**"][column] == "float32"


def test_quality_section_states_convergence_improvement_collapse_and_the_reference(project):
    text = render_report(project)
    section = text[text.index("## Quality during training"):text.index("## Losses")]
    assert "(51.97" not in section and "(52.0, reached at 7.3 min" in section
    assert "![FID of the three averaged generators during training](figures/quality.png)" in section
    assert "| **cnn** | 3 | 30.0 (best 30.0) | 100 of 100 | yes | 70% | 6.0% | none |" in section
    assert "| **transformer** | 3 | 30.0 (best 30.0) | 100 of 100 | no | 70% | 6.0% | **at step 80** (coverage 0.050, 7 digits) |" in section
    assert (project / "reports/figures/quality.png").stat().st_size > 1000


def findings_lines(text: str) -> list[str]:
    start = text.index("- On FID the scale")
    return text[start:text.index("\n\n", start)].splitlines()


def crowned(line: str) -> str:
    """The names a findings line puts first ("**a** and **b** share the ..."), or "" if none."""
    match = re.match(r"- (?:\w+: )?((?:\*\*\w+\*\*(?:, | and )?)+) (?:has|share) the ", line)
    return match[1] if match else ""


def test_speed_table_comes_from_the_benchmark_file(project):
    text = render_report(project)
    assert "on Test CPU (2 cores, TensorFlow 2.21.0); a float32 matrix product reaches 200 GFLOP/s" in text
    assert "| (a) lab loop | 0.500 | 256 | 1.00× | 0.50× | n/a | n/a | n/a |" in text
    assert "| (b) two-tape | 0.250 | 512 | 2.00× | 1.00× | 50.0 | 200 | 100% |" in text


def test_fidelity_is_density_variety_is_coverage_and_precision_is_a_column(project):
    text = render_report(project)
    lines = findings_lines(text)
    assert "- Fidelity: **cnn** has the highest density (0.900), then combined (0.800); " \
           "not ranked: transformer (flagged above)." in lines
    assert "- Variety: **cnn** has the highest coverage (0.700), then combined (0.550), transformer (0.300)." in lines
    assert "- **transformer** is flagged as missing modes: 7 of 10 digits covered (coverage 0.300)." in "\n".join(lines)
    assert "highest precision" not in text and "highest recall" not in text
    assert "| precision ↑ | recall ↑ | density ↑ | coverage ↑ | digits ↑ |" in text
    assert "| **real** | MNIST train images |" in text and "| 0.920 | 0.830 | 10 |" in text
    assert "coverage under 0.1, or covering fewer than all" in " ".join(text.split())


def test_a_collapsed_model_is_flagged_and_never_called_best(project):
    """The default run's all-black transformer: precision 1.000 once made it "the highest precision"."""
    text = render_report(fabricate(project, {**SCORES, "transformer": COLLAPSED}))
    lines = findings_lines(text)
    flag = ("- **transformer** is flagged as collapsed: coverage 0.000, under 0.1 (real data: 0.830), and 0 of "
            "10 digits covered. The rankings a collapsed generator can top (density, confident, cond. accuracy) "
            "leave it out; its precision of 1.000 only says that its samples fall inside some real images' "
            "k-NN balls, not that they look real or vary.")
    assert flag in lines
    assert "- Fidelity: **cnn** has the highest density (0.900), then combined (0.800); " \
           "not ranked: transformer (flagged above)." in lines
    assert "- **cnn** has the most confidently read samples (0.800), then combined (0.700); " \
           "not ranked: transformer (flagged above)." in lines
    # the only thing the collapsed model leads on is its size, which says nothing about its samples
    assert [line for line in lines if "**transformer**" in crowned(line)] == [
        "- **transformer** and **combined** share the smallest generator (400,000 parameters), then cnn (1,000,000 parameters)."
    ]
    assert "coverage 0.000 against 0.700" in text  # the closing comparison shows the collapse too

    everything_collapsed = {**SCORES, **{name: COLLAPSED for name in FAMILIES}}
    lines = findings_lines(render_report(fabricate(project, everything_collapsed)))
    assert "- No model is ranked on density: cnn, transformer, combined are flagged above." in lines
    assert sum("is flagged as collapsed" in line for line in lines) == 3
    assert not any(crowned(line) for line in lines if "density" in line or "confident" in line)


def test_ties_and_the_floor_to_ceiling_scale(project):
    tied = {**SCORES, "transformer": (20.0, *SCORES["transformer"][1:])}
    text = render_report(fabricate(project, tied))
    assert "**cnn** and **transformer** share the lowest FID (20.00), then combined (35.00)." in text
    # (400 - 20) / (400 - 2) = 95 %, (400 - 35) / 398 = 92 %
    assert "the share of that gap each model closes: cnn 95%, transformer 95%, combined 92%." in text

    worse = {**SCORES, "transformer": (450.0, *SCORES["transformer"][1:])}
    assert "transformer -13% (worse than untrained)" in render_report(fabricate(project, worse))


def test_links_are_relative_and_resolve(project):
    report = project / "reports" / "report.md"
    text = render_report(project)
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert len(links) >= 3 * 2 + 2 + 4  # grids and GIFs, the two figures, the attention images
    for link in links:
        assert not link.startswith(("/", "http")) and "\\" not in link
        assert (report.parent / link).is_file(), link
    assert {"figures/losses.png", "figures/class_histograms.png", "cnn/samples.png", "combined/progress.gif"} <= set(links)
    assert "${" not in text and "$" not in text


def test_a_missing_input_is_one_error_naming_it(project):
    (project / "reports/evaluation/metrics.json").unlink()
    with pytest.raises(DataError, match="reports/evaluation/metrics.json: not found"):
        render_report(project)
    assert not (project / "reports/report.md").exists()


def test_stage_is_fast_reproducible_and_never_imports_tensorflow(project):
    script = ("import runpy, sys; sys.argv = ['report', '--root', sys.argv[1]];"
              "runpy.run_module('stages.report', run_name='__main__');"
              "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow was imported'")
    outputs = ["reports/report.md", "reports/figures/losses.png", "reports/figures/class_histograms.png",
               "reports/figures/quality.png"]
    start = time.perf_counter()
    run([sys.executable, "-c", script, str(project)], ROOT)
    assert time.perf_counter() - start < 30
    first = {name: (project / name).read_bytes() for name in outputs}
    run([sys.executable, "-c", script, str(project)], ROOT)
    assert {name: (project / name).read_bytes() for name in outputs} == first


def test_dvc_stage_declares_what_the_report_reads():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    deps = set(stages["report"]["deps"])
    assert {str(path) for path in input_files()} <= deps
    assert "gan_lab/report" in deps  # its code and template (tests/test_dvc_deps.py checks the imports)
    assert stages["report"]["outs"] == ["reports/report.md", "reports/figures"]
    assert {f"models/{name}/generator.keras" for name in TRAINING_SECTIONS} <= set(stages["evaluate"]["deps"])
