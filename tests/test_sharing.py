"""Sharing and experimenting the way a user does: push every output to a DVC remote, clone, pull and
find nothing to do; then `dvc exp run -S` re-runs only the stages that read the changed param."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import commit_all, run


def changed_stages(repo: Path) -> set[str]:
    return set(json.loads(run(["dvc", "status", "--json"], repo).stdout or "{}"))


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="module")
def clone(reproduced_project: Path, tmp_path_factory) -> Path:
    """Commit the tiny pipeline's results, push them to a local-folder remote, clone and pull."""
    repo = reproduced_project
    storage = tmp_path_factory.mktemp("storage")
    run(["dvc", "remote", "add", "--default", "shared", str(storage)], repo)
    commit_all(repo, "results of the tiny pipeline, and where they are shared")
    run(["dvc", "push"], repo)

    clone = tmp_path_factory.mktemp("clone") / "repo"
    run(["git", "clone", "-q", str(repo), str(clone)], repo.parent)
    run(["git", "config", "user.name", "test"], clone)
    run(["git", "config", "user.email", "test@example.com"], clone)
    run(["dvc", "pull"], clone)
    return clone


def test_pulled_clone_has_every_output_and_nothing_to_do(clone, reproduced_project):
    lock = yaml.safe_load((clone / "dvc.lock").read_text())
    outputs = [out["path"] for stage in lock["stages"].values() for out in stage.get("outs", [])]
    assert outputs and all((clone / path).exists() for path in outputs)
    assert (clone / "reports/report.md").read_text() == (reproduced_project / "reports/report.md").read_text()
    assert changed_stages(clone) == set()
    result = run(["dvc", "repro"], clone)
    assert "Running stage" not in result.stdout


def test_each_param_section_touches_only_the_stages_that_read_it(clone):
    """Change one value per section; `dvc status` must name exactly the stages that declare it.

    The report reads the whole params.yaml (it prints them), so it is always among the changed.
    """
    text = (clone / "params.yaml").read_text()
    params = yaml.safe_load(text)
    declared = yaml.safe_load((clone / "dvc.yaml").read_text())["stages"]
    try:
        for section, value in params.items():
            changed = {**params, section: value + 1 if section == "seed" else {**value, "_probe": 1}}
            (clone / "params.yaml").write_text(yaml.safe_dump(changed, sort_keys=False))
            readers = {name for name, spec in declared.items() if section in spec.get("params", [])}
            assert readers, f"no stage reads params section {section!r}"
            assert changed_stages(clone) - {"report"} == readers, section
    finally:
        (clone / "params.yaml").write_text(text)
    assert changed_stages(clone) == set()


def test_exp_run_reruns_only_the_stages_reading_the_param(clone):
    ran = stages_run(run(["dvc", "exp", "run", "-S", "transformer.num_heads=4"], clone).stdout)
    assert ran == {"train_transformer", "quality", "evaluate", "report"}
    # a new classifier re-scores the quality samples and the generators; no GAN retrains (issue 18)
    ran = stages_run(run(["dvc", "exp", "run", "-S", "classifier.feature_units=12"], clone).stdout)
    assert ran == {"train_classifier", "quality", "evaluate", "report"}
    ran = stages_run(run(["dvc", "exp", "run", "-S", "attention.train_steps=10"], clone).stdout)
    assert ran == {"attention_sweep", "report"}

    shown = json.loads(run(["dvc", "exp", "show", "--json"], clone).stdout)
    experiments = [exp for commit in shown for exp in (commit.get("experiments") or [])]
    assert len(experiments) == 3
