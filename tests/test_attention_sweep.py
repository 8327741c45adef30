"""The self-attention study and its stage: the lab's shapes, masking, training, outputs and errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from gan_lab.attention import study
from gan_lab.config import SENTENCE_WORDS, AttentionConfig, parse_section

ROOT = Path(__file__).resolve().parents[1]
SEED = 42
SMALL_SWEEP = {"embed_dims": [16, 64], "num_heads": [4], "train_steps": 50}
PNGS = ["heatmap.png", "heatmap_trained.png", "grid_random.png", "grid_trained.png"]


def attention_config(**changes) -> AttentionConfig:
    raw = {"embed_dims": [64], "num_heads": [4], "seq_len": 10, "mask_padding": True, "train_steps": 300,
           "learning_rate": 0.01}
    return parse_section(AttentionConfig, {**raw, **changes}, "attention")


@pytest.fixture(scope="module")
def lab_maps() -> dict[bool, dict[str, study.AttentionMaps]]:
    """The lab's setting, random and trained, with padding keys masked (True) and not (False)."""
    return {
        masked: study.study_setting(64, 4, attention_config(mask_padding=masked), SEED)
        for masked in (True, False)
    }


def test_lab_input_and_output_shapes() -> None:
    tokens = study.lab_batch(10)
    assert tokens.shape == (2, 10)
    assert not np.array_equal(tokens[0], tokens[1])  # two real sentences, not one copied
    assert study.token_labels(10) == ["le", "chat", "est", "sur", "le", "tapis"] + ["<pad>"] * 4
    model = study.TokenAttentionModel(64, 4, mask_padding=True)
    output, weights = model.attend(tokens)
    assert model.embedding(tokens).shape == (2, 10, 64)
    assert output.shape == (2, 10, 64)
    assert weights.shape == (2, 4, 10, 10)


def test_config_knows_the_sentence_length() -> None:
    assert SENTENCE_WORDS == len(study.SENTENCE)


@pytest.mark.parametrize("variant", study.VARIANTS)
def test_masked_padding_gets_no_weight(lab_maps, variant: str) -> None:
    weights = lab_maps[True][variant].weights
    words = len(study.SENTENCE)
    np.testing.assert_allclose(weights[..., :words].sum(axis=-1), 1.0, atol=1e-5)
    assert np.all(weights[..., words:] == 0.0)


@pytest.mark.parametrize("variant", study.VARIANTS)
def test_unmasked_padding_gets_weight(lab_maps, variant: str) -> None:
    weights = lab_maps[False][variant].weights
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-5)
    assert np.all(weights[..., len(study.SENTENCE):] > 0.0)


@pytest.mark.parametrize("masked", [True, False])
def test_training_sharpens_the_maps(lab_maps, masked: bool) -> None:
    random = study.summarise(lab_maps[masked]["random"])
    trained = study.summarise(lab_maps[masked]["trained"])
    assert random["mean_entropy"] > 0.95 * study.uniform_entropy(attention_config(mask_padding=masked))
    assert trained["mean_entropy"] < random["mean_entropy"] - 0.5
    assert trained["max_weight"] > 2 * random["max_weight"]
    assert trained["loss"] < 0.1


@pytest.mark.parametrize("variant", study.VARIANTS)
def test_repeated_word_attends_alike(lab_maps, variant: str) -> None:
    """With no positional encoding, the two `le` have the same query, so the same row."""
    weights = lab_maps[True][variant].weights
    np.testing.assert_array_equal(weights[0, :, 0], weights[0, :, 4])


def test_same_seed_same_maps() -> None:
    config = attention_config(train_steps=20)
    first, second = (study.study_setting(16, 2, config, SEED) for _ in range(2))
    for variant in study.VARIANTS:
        assert np.array_equal(first[variant].weights, second[variant].weights)


def run_stage(tmp_path: Path, attention_changes: dict) -> subprocess.CompletedProcess:
    """`python -m stages.attention_sweep` in `tmp_path`, on a copy of params.yaml with changes."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["attention"] = {**params["attention"], **attention_changes}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "stages.attention_sweep"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_stage_writes_every_output(tmp_path: Path) -> None:
    result = run_stage(tmp_path, SMALL_SWEEP)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "reports" / "attention"
    assert sorted(p.name for p in out.iterdir()) == sorted(PNGS + ["metrics.json", "settings", "summary.json", "top_keys.json"])
    for name in PNGS:
        assert (out / name).read_bytes().startswith(b"\x89PNG")
    names = {f"embed{d}_heads{h}" for d in SMALL_SWEEP["embed_dims"] for h in SMALL_SWEEP["num_heads"]}
    per_setting = sorted(p.name for p in (out / "settings").iterdir())
    assert per_setting == sorted(f"{variant}_{name}.png" for variant in study.VARIANTS for name in names)
    for name in ("metrics.json", "top_keys.json"):
        statistics = json.loads((out / name).read_text())
        assert all(set(statistics[variant]) == names for variant in study.VARIANTS)
    metrics, summary = (json.loads((out / name).read_text()) for name in ("metrics.json", "summary.json"))
    lab = {variant: metrics[variant]["embed64_heads4"] for variant in study.VARIANTS}
    assert summary == {"uniform_entropy": metrics["uniform_entropy"], "random_entropy": lab["random"]["mean_entropy"],
                       "trained_entropy": lab["trained"]["mean_entropy"], "trained_max_weight": lab["trained"]["max_weight"],
                       "trained_padding_weight": lab["trained"]["padding_weight"]}
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    check_values(out, {**params["attention"], **SMALL_SWEEP}, params["seed"])


def check_values(out: Path, raw: dict, seed: int) -> None:
    """The stage's numbers are the study's, recomputed here, and say what the study found: masked
    padding gets no weight, entropies within [0, uniform], training sharpens and fits the maps."""
    config = parse_section(AttentionConfig, raw, "attention")
    metrics = json.loads((out / "metrics.json").read_text())
    keys = json.loads((out / "top_keys.json").read_text())
    assert metrics["uniform_entropy"] == round(study.uniform_entropy(config), 4)
    results = study.study(config, seed)
    for variant in study.VARIANTS:
        for maps in (setting[variant] for setting in results.values()):
            written, recomputed = metrics[variant][maps.name], study.summarise(maps)
            assert written == pytest.approx(recomputed, abs=2e-4, rel=1e-2), maps.name
            assert 0 < written["max_weight"] <= 1 and 0 <= written["mean_entropy"] <= metrics["uniform_entropy"]
            assert written["padding_weight"] == 0  # mask_padding: true
            top = {query: target.split(" ")[0] for query, target in study.top_keys(maps, config.seq_len).items()}
            assert {query: target.split(" ")[0] for query, target in keys[variant][maps.name].items()} == top
    for name in metrics["random"]:
        assert metrics["trained"][name]["mean_entropy"] < metrics["random"][name]["mean_entropy"]
        assert metrics["trained"][name]["loss"] < 0.5


def test_stage_rejects_indivisible_heads_in_one_line(tmp_path: Path) -> None:
    result = run_stage(tmp_path, {"embed_dims": [32, 30], "num_heads": [2, 4]})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "embed_dim=30" in lines[0] and "num_heads=4" in lines[0], result.stderr
    assert not (tmp_path / "reports").exists()
