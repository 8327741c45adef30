"""`train.distribute`: mirrored over two logical CPUs computes what one device computes; multi_worker
trains as one worker without TF_CONFIG, and as two worker processes on this machine with one.

Logical devices must be set up before TensorFlow starts, so the runs happen in fresh interpreters
(tests/distributed_run.py) that print their results as JSON.
"""
from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from gan_lab.errors import GanLabError
from gan_lab.training.distribute import Distribution

SCRIPT = Path(__file__).with_name("distributed_run.py")

# Mirrored over 2 CPUs vs one device, same global batch (16) and seed, float32: every logged number
# of the first 14 steps agreed to within 2.4e-7 (1-2 float32 ulps) in our runs, the final weights
# after 6-8 steps to within 1.7e-6 and Adam's moments to within 1e-5 of each variable's largest
# entry. The tolerances leave ~40x room, and still catch each way of getting it wrong that we
# tried: per-replica batch-norm statistics (losses off by 1.2e-2 within 6 steps), every replica
# drawing the same noise (5.5e-2), gradients not weighted 1/replicas (Adam's moments off by 300%).
LOSS_TOLERANCE = 1e-5
WEIGHT_TOLERANCE = 1e-4
STATE_TOLERANCE = 1e-3
# mixed_float16 rounds each activation to ~3 decimal digits, one device and two alike: measured
# differences up to 7e-4 in 6 steps.
FLOAT16_LOSS_TOLERANCE = 1e-2


def run_script(*args: str, env: dict | None = None, timeout: int = 300) -> dict:
    """Run tests/distributed_run.py with `env` (default: this process's environment)."""
    env = {**(os.environ if env is None else env), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_mirrored_over_two_cpus_matches_one_device(tmp_path):
    # Conditional, with DiffAugment and R1 on, and the generator's batch norm: every place where a
    # replica must take its share of the global batch.
    r = run_script("compare", "8", str(tmp_path), "--conditional", "--diffaugment", "--r1", "1.0")
    assert r["replicas"] == 2 and len(set(r["devices"])) == 2
    assert r["slices"] == [[0, 1, 2, 3], [4, 5, 6, 7]]  # consecutive slices of the global batch
    assert r["same_initial_weights"]
    assert r["synchronized_bn"] == ["project_norm", "up0_norm", "up1_norm"]
    assert r["replica_copies_equal"]  # weights, batch-norm statistics and optimizer state
    assert r["restored_on_every_replica"]  # a checkpoint restores into every replica's copy
    assert len(r["none"]) == len(r["mirrored"]) == 8
    for step, (one, two) in enumerate(zip(r["none"], r["mirrored"]), start=1):
        assert one.keys() == two.keys()
        for key in one:
            assert abs(one[key] - two[key]) <= LOSS_TOLERANCE, (step, key, one[key], two[key])
    assert r["max_final_weight_difference"] <= WEIGHT_TOLERANCE
    assert r["max_averaged_weight_difference"] <= WEIGHT_TOLERANCE  # g_ema
    assert r["max_optimizer_state_relative_difference"] <= STATE_TOLERANCE


def test_mirrored_with_mixed_float16_and_loss_scaling(tmp_path):
    r = run_script("compare", "4", str(tmp_path), "--precision", "mixed_float16")
    assert r["replicas"] == 2 and r["replica_copies_equal"]
    for one, two in zip(r["none"], r["mirrored"]):
        assert all(math.isfinite(v) for v in [*one.values(), *two.values()])
        assert abs(one["d_loss"] - two["d_loss"]) <= FLOAT16_LOSS_TOLERANCE
        assert abs(one["g_loss"] - two["g_loss"]) <= FLOAT16_LOSS_TOLERANCE


def test_an_overflow_on_one_replica_skips_the_step_on_all():
    """Loss scaling on two replicas, only the second one's gradient infinite."""
    ours = run_script("overflow")
    assert ours["copies"] == [[1.0, 1.0], [1.0, 1.0]]  # step skipped everywhere, weights untouched
    assert ours["scale"] == 2.0**14 and ours["iterations"] == 0
    # Why GAN.gradients makes the replicas agree (distribute.skip_together): Keras 3.15 alone
    # decides from the first replica's gradients and applies the summed infinite gradient.
    keras_alone = run_script("overflow", "--keras-alone")
    assert math.isnan(keras_alone["copies"][0][0]) and keras_alone["scale"] == 2.0**15, (
        "Keras' LossScaleOptimizer now skips a step that overflowed on any replica: "
        "gan_lab.training.distribute.skip_together may be unnecessary"
    )


def test_multi_worker_without_tf_config_is_one_worker_and_trains(tmp_path):
    r = run_script("train", "multi_worker", "3", str(tmp_path), env={k: v for k, v in os.environ.items() if k != "TF_CONFIG"})
    assert r["result"]["replicas"] == 1
    assert r["result"]["steps"] == 3 and math.isfinite(r["result"]["final_d_loss"])
    assert r["models"] == ["discriminator.keras", "generator.keras"]


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]  # all held at once, so they differ
    for s in sockets:
        s.close()
    return ports


def test_two_workers_on_this_machine_match_one_device(tmp_path):
    """Two processes joined by TF_CONFIG, as two machines would be (one CPU replica each)."""
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    workers = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), "train", "multi_worker", "6", str(tmp_path / f"worker{i}")],
            env={**env, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(2)
    ]
    try:
        outputs = [w.communicate(timeout=240) for w in workers]
    finally:
        for w in workers:
            w.kill()
    for w, (_, stderr) in zip(workers, outputs):
        assert w.returncode == 0, stderr[-4000:]
    assert [json.loads(out.splitlines()[-1])["result"]["replicas"] for out, _ in outputs] == [2, 2]

    one = run_script("train", "none", "6", str(tmp_path / "one"))
    assert one["result"]["replicas"] == 1
    reference = pd.read_csv(tmp_path / "one/reports/cnn/losses.csv")
    for i in range(2):  # each worker writes the same outputs into its own folder
        losses = pd.read_csv(tmp_path / f"worker{i}/reports/cnn/losses.csv")
        assert (losses.columns == reference.columns).all() and len(losses) == 6
        # losses.csv keeps 6 significant digits, so the tolerance is the CSV's rounding
        assert (losses - reference).abs().max().max() <= LOSS_TOLERANCE


def test_a_batch_that_does_not_split_evenly_is_refused():
    two = Distribution("mirrored", SimpleNamespace(num_replicas_in_sync=2))
    two.check_batch(16, "cnn")
    with pytest.raises(GanLabError, match=r"^cnn.batch_size=15 does not split evenly over the 2 replicas "
                                          r"of train.distribute=mirrored; use a multiple of 2$"):
        two.check_batch(15, "cnn")
    Distribution("none", None).check_batch(15, "cnn")
