"""The report's inputs: which files it reads (the report stage's deps) and reading them into `ReportData`."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from gan_lab.config import TRAINING_SECTIONS, read_params
from gan_lab.errors import DataError
from gan_lab.names import QUALITY_FILE, QUALITY_SUMMARY_FILE

REPORTS = Path("reports")
EVALUATION = REPORTS / "evaluation"
ATTENTION = REPORTS / "attention"
QUALITY = REPORTS / "quality"
SPEED = Path("bench/results/train_speed.json")  # written by bench/train_speed.py, committed to git
TIME_TO_QUALITY = Path("bench/results/time_to_quality.json")  # bench/time_to_quality.py: the lab reference's best


def model_file(name: str, file: str) -> Path:
    return REPORTS / name / file


def input_files() -> list[Path]:
    """The files the report reads or links, relative to the project root: the report stage's deps."""
    per_model = ["metrics.json", "timing.json", "losses.csv", QUALITY_FILE, "samples.png", "progress.gif"]
    return [
        *(model_file(name, file) for name in TRAINING_SECTIONS for file in per_model),
        *(EVALUATION / file for file in ("metrics.json", "class_histograms.json", "timing.json")),
        REPORTS / "classifier" / "metrics.json",
        QUALITY / QUALITY_SUMMARY_FILE,
        *(ATTENTION / file for file in ("metrics.json", "grid_random.png", "grid_trained.png",
                                        "heatmap.png", "heatmap_trained.png")),
        SPEED,
        TIME_TO_QUALITY,
        Path("params.yaml"),
    ]


# dvc.yaml says which params each stage reads. DVC refuses it as a dependency, so a change to a
# stage's `params:` list alone does not re-render the report (any change of a value does).
PIPELINE = Path("dvc.yaml")


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
    quality: dict[str, pd.DataFrame]  # section -> its quality.csv
    quality_summary: dict[str, dict]  # section -> the quality stage's verdict on its curve
    lab_reference: dict  # bench/time_to_quality.py's table: `reference_fid`, `reference_seconds`, ...
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
        quality={name: pd.read_csv(root / model_file(name, QUALITY_FILE)) for name in TRAINING_SECTIONS},
        quality_summary=read_json(root / QUALITY / QUALITY_SUMMARY_FILE),
        lab_reference=read_json(root / TIME_TO_QUALITY),
        params=read_params(root / "params.yaml"),
        stage_params={stage: [str(p) for p in spec.get("params", [])] for stage, spec in stages.items()},
    )
