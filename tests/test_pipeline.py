"""prepare and train_cnn through DVC itself, on tiny params, in a scratch repository."""
from __future__ import annotations

import json

import pandas as pd
import yaml
from PIL import Image

from conftest import run

LOSS_COLUMNS = ["step", "d_loss", "g_loss", "d_real", "d_fake", "d_real_accuracy", "d_fake_accuracy"]


def changed_stages(repo) -> set[str]:
    status = json.loads(run(["dvc", "status", "--json"], repo).stdout or "{}")
    return set(status)


def test_dvc_repro_train_cnn_writes_every_declared_output(dvc_project):
    repo = dvc_project
    run(["dvc", "repro", "train_cnn"], repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    steps, grid = params["cnn"]["steps"], params["train"]["grid_size"]

    losses = pd.read_csv(repo / "reports/cnn/losses.csv")
    assert list(losses.columns) == LOSS_COLUMNS
    assert losses["step"].tolist() == list(range(1, steps + 1))
    assert losses[["d_loss", "g_loss"]].notna().all().all()
    throughput = pd.read_csv(repo / "reports/cnn/throughput.csv")
    assert list(throughput.columns) == ["step", "images_per_second"] and len(throughput) == steps

    gif = Image.open(repo / "reports/cnn/progress.gif")
    assert gif.n_frames == steps // params["train"]["snapshot_every"]
    samples = Image.open(repo / "reports/cnn/samples.png")
    assert samples.size == (grid * 58 + 2, grid * 58 + 2)  # 28 px at 2x scale plus 2 px gaps
    assert Image.open(repo / "reports/cnn/losses.png").size == (800, 400)

    metrics = json.loads((repo / "reports/cnn/metrics.json").read_text())
    assert metrics["steps"] == steps and metrics["generator"] == metrics["discriminator"] == "cnn"
    assert {"final_d_loss", "final_g_loss", "generator_parameters", "discriminator_parameters"} <= set(metrics)
    timing = json.loads((repo / "reports/cnn/timing.json").read_text())
    assert timing["wall_seconds"] > 0 and timing["images_per_second"] > 0
    assert (repo / "models/cnn/generator.keras").stat().st_size > 0
    assert not (repo / "checkpoints/cnn").exists()  # checkpoints are removed once outputs are complete

    # A second repro has nothing to do; a cnn.* change touches train_cnn only (stages never run
    # here, such as the other models, count as changed both before and after).
    assert not {"prepare", "train_cnn"} & changed_stages(repo)
    assert "didn't change" in run(["dvc", "repro", "train_cnn"], repo).stdout
    before = changed_stages(repo)
    params["cnn"]["latent_dim"] = 64
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert changed_stages(repo) - before == {"train_cnn"}
