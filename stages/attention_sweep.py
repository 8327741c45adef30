"""DVC stage `attention_sweep`: the lab's self-attention study over embed_dim x num_heads.

Every setting is studied twice, with random (untrained) and with trained embeddings and attention
(see gan_lab/attention/study.py), so one run gives the report both. Writes under --out:
  heatmap.png          the lab's figure: embed_dim=64, num_heads=4, random, sample 0, head 0
  heatmap_trained.png  the same setting after training
  grid_random.png      sample 0, head 0 of every swept setting, on one colour scale
  grid_trained.png     the same after training
  settings/            one annotated heatmap per swept setting and variant: <variant>_embed<D>_heads<H>.png
  metrics.json         per setting (swept, and the lab's) and variant: max weight, entropy, ...
  summary.json         the DVC metrics: the lab setting's entropies (random, trained, uniform) and weights
  top_keys.json        per setting and variant: the key each word attends to most
"""
import argparse
import json
from pathlib import Path

from gan_lab.config import AttentionParams, load_attention
from gan_lab.errors import exit_on_user_error


def run(params: AttentionParams, out: Path) -> None:
    """The study and its outputs.

    TensorFlow is imported here, once the params have passed their checks: it writes start-up
    lines to stderr as it loads, and a params error should be one line, in well under a second.
    """
    import tensorflow as tf

    from gan_lab.attention.study import (
        LAB_SETTING, VARIANTS, headline, study, summarise, token_labels, top_keys, uniform_entropy,
    )
    from gan_lab.attention.heatmaps import save_grid, save_heatmap

    tf.get_logger().setLevel("ERROR")  # every setting is a new model: TF's retracing notice is expected
    config = params.attention
    results = study(config, params.seed)

    labels = token_labels(config.seq_len)
    padding = "padding keys masked" if config.mask_padding else "padding keys not masked"
    embed_dim, heads = LAB_SETTING
    for variant, name in (("random", "heatmap.png"), ("trained", "heatmap_trained.png")):
        title = f"embed_dim={embed_dim}, num_heads={heads}, {variant} embeddings\nsample 0, head 0, {padding}"
        save_heatmap(results[LAB_SETTING][variant].weights[0, 0], labels, title, out / name)
    swept = [(d, h) for d in config.embed_dims for h in config.num_heads]
    (out / "settings").mkdir(parents=True, exist_ok=True)
    for variant in VARIANTS:
        maps = {setting: results[setting][variant].weights[0, 0] for setting in swept}
        title = f"{variant.capitalize()} embeddings: sample 0, head 0, {padding}"
        save_grid(maps, labels, config.embed_dims, config.num_heads, title, out / f"grid_{variant}.png")
        for (d, h), weights in maps.items():
            title = f"embed_dim={d}, num_heads={h}, {variant} embeddings\nsample 0, head 0, {padding}"
            save_heatmap(weights, labels, title, out / "settings" / f"{variant}_embed{d}_heads{h}.png")

    metrics = {"uniform_entropy": round(uniform_entropy(config), 4)}
    keys = {}
    for variant in VARIANTS:
        metrics[variant] = {maps[variant].name: summarise(maps[variant]) for maps in results.values()}
        keys[variant] = {
            maps[variant].name: top_keys(maps[variant], config.seq_len) for maps in results.values()
        }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "top_keys.json").write_text(json.dumps(keys, indent=2) + "\n")
    (out / "summary.json").write_text(json.dumps(headline(metrics), indent=2) + "\n")
    print(f"attention_sweep: {len(results)} settings x {len(VARIANTS)} variants -> {out}")


@exit_on_user_error
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, default=Path("reports/attention"))
    args = parser.parse_args()
    run(load_attention(args.params), args.out)


if __name__ == "__main__":
    main()
