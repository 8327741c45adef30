"""bench/time_to_quality.py's verdict: the lab reference's target is its best score in the budget,
not its last, and each section is timed to the first score at or below it."""
from __future__ import annotations

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT))
from bench.time_to_quality import REFERENCE, summarize  # noqa: E402


def row(section: str, seconds: float, fid: float) -> dict:
    return {"section": section, "step": 0, "train_seconds": seconds, "fid": fid}


def test_the_target_is_the_references_best_and_each_section_is_timed_to_reach_it():
    rows = [
        row("cnn", 40.0, 90.0), row("cnn", 80.0, 50.0), row("cnn", 120.0, 55.0), row("cnn", 160.0, 30.0),
        row("transformer", 100.0, 120.0), row("transformer", 200.0, 70.0),
        row(REFERENCE, 240.0, 66.0), row(REFERENCE, 360.0, 52.0), row(REFERENCE, 480.0, 80.0),
    ]
    summary = summarize(rows, ["cnn", "transformer"])
    assert (summary["reference_fid"], summary["reference_seconds"]) == (52.0, 360.0)  # not the last, 80.0
    assert summary["seconds_to_reach_it"] == {"cnn": 80.0, "transformer": None}
