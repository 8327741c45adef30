"""prepare and the three training stages through DVC itself, on tiny params, in a scratch repository."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import yaml
from PIL import Image

from conftest import run
from gan_lab.models import load_network

LOSS_COLUMNS = ["step", "d_loss", "g_loss", "d_real", "d_fake", "d_real_accuracy", "d_fake_accuracy"]
TRAINING_SECTIONS = ("cnn", "transformer", "combined")


def changed_stages(repo) -> set[str]:
    status = json.loads(run(["dvc", "status", "--json"], repo).stdout or "{}")
    return set(status)


def assert_training_outputs(repo, section: str, params: dict) -> None:
    """Every file `train_<section>` declares exists and holds what it should."""
    steps, grid = params[section]["steps"], params["train"]["grid_size"]
    reports, models = repo / "reports" / section, repo / "models" / section

    losses = pd.read_csv(reports / "losses.csv")
    assert list(losses.columns) == LOSS_COLUMNS
    assert losses["step"].tolist() == list(range(1, steps + 1))
    assert losses[["d_loss", "g_loss"]].notna().all().all()
    throughput = pd.read_csv(reports / "throughput.csv")
    assert list(throughput.columns) == ["step", "images_per_second"] and len(throughput) == steps

    gif = Image.open(reports / "progress.gif")
    assert gif.n_frames == steps // params["train"]["snapshot_every"]
    samples = Image.open(reports / "samples.png")
    assert samples.size == (grid * 58 + 2, grid * 58 + 2)  # 28 px at 2x scale plus 2 px gaps
    assert Image.open(reports / "losses.png").size == (800, 400)

    metrics = json.loads((reports / "metrics.json").read_text())
    assert metrics["steps"] == steps
    assert (metrics["generator"], metrics["discriminator"]) == (params[section]["generator"], params[section]["discriminator"])
    assert {"final_d_loss", "final_g_loss", "generator_parameters", "discriminator_parameters"} <= set(metrics)
    timing = json.loads((reports / "timing.json").read_text())
    assert timing["wall_seconds"] > 0 and timing["images_per_second"] > 0
    speed = json.loads((reports / "speed.json").read_text())  # the stage's DVC metrics: two numbers of timing.json
    assert speed == {section: {key: timing[key] for key in ("images_per_second", "wall_seconds")}}
    generator, discriminator = (load_network(models / f"{network}.keras") for network in ("generator", "discriminator"))
    z, labels = np.zeros((3, params[section]["latent_dim"]), "float32"), np.arange(3)
    conditional = params[section]["conditional"]
    images = generator([z, labels] if conditional else z).numpy()
    assert images.shape == (3, 28, 28, 1) and np.abs(images).max() <= 1.0
    scores = discriminator([images, labels] if conditional else images).numpy()
    assert scores.shape == (3, 1) and ((scores > 0) & (scores < 1)).all()
    assert not (repo / "checkpoints" / section).exists()  # removed once outputs are complete


def test_dvc_repro_training_stages_write_every_declared_output(dvc_project):
    repo = dvc_project
    run(["dvc", "repro", *(f"train_{section}" for section in TRAINING_SECTIONS)], repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section in TRAINING_SECTIONS:
        assert_training_outputs(repo, section, params)

    # A second repro has nothing to do; a cnn.* change touches train_cnn only (stages never run
    # here, such as the evaluator, count as changed both before and after).
    stages = {"prepare", *(f"train_{section}" for section in TRAINING_SECTIONS)}
    assert not stages & changed_stages(repo)
    assert "didn't change" in run(["dvc", "repro", "train_cnn"], repo).stdout
    before = changed_stages(repo)
    params["cnn"]["latent_dim"] = 64
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert changed_stages(repo) - before == {"train_cnn"}
