"""Training on several devices (`train.distribute`), kept out of the GAN's update in gan.py.

- `none`: one device, TensorFlow's default: exactly the code path of a run without this module.
- `mirrored`: `tf.distribute.MirroredStrategy` over this machine's GPUs (without GPUs: its logical
  CPU devices, normally one; the tests split the CPU into two to check the maths).
- `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy`: the same over several machines,
  which every process reads from its `TF_CONFIG` environment variable; without one it is a single
  worker on this machine's devices.

Every replica holds a full copy of both networks and optimizers (created under `scope()`), and one
step computes what a one-device step on the same global batch computes:

1. the input pipeline's global batch (`batch_size` images) is cut into equal consecutive slices,
   one per replica (`dataset`);
2. the noise z and DiffAugment's shifts and cutouts are drawn for the whole global batch from the
   same stateless seed as on one device, and each replica keeps the rows of its slice
   (`replica_share`), so every image meets the noise and augmentation it would meet on one device;
3. the generator's batch normalisation is synchronised: each replica normalises with the mean and
   variance of the global batch, and every replica's moving statistics stay equal
   (`synchronize_batch_norm`);
4. each replica's losses are means over its slice, and Keras' optimizer sums the replicas'
   gradients (an all-reduce inside `apply`), so each replica's gradient is weighted 1/replicas
   (`loss_weight`): the sum is then the gradient of the global-batch mean;
5. the logged numbers are averaged over the replicas (`compile`);
6. under mixed_float16's loss scaling, a step whose gradients overflowed on any replica is skipped
   on all of them (`skip_together`).

What still differs from one device: the order of float summations (the gradient all-reduce, and
synchronised batch norm's E[x^2] - E[x]^2 over the replicas instead of `tf.nn.moments`), and
dropout masks, which Keras draws per replica and which are not matched (the default CNN and
Transformer params use no dropout). tests/test_distribute.py measures the difference.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable

import keras
import tensorflow as tf

from gan_lab.errors import ConfigError

Logs = dict[str, tf.Tensor]


@dataclass(frozen=True)
class Distribution:
    """The `train.distribute` choice and its strategy; `none` holds no strategy and changes nothing."""

    kind: str
    strategy: tf.distribute.Strategy | None

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync if self.strategy else 1

    def scope(self) -> contextlib.AbstractContextManager:
        """Build models and optimizers inside this: under a strategy their variables are mirrored."""
        return self.strategy.scope() if self.strategy else contextlib.nullcontext()

    def check_batch(self, batch_size: int, path: str) -> None:
        if batch_size % self.replicas:
            raise ConfigError(
                f"{path}.batch_size={batch_size} does not split evenly over the {self.replicas} replicas "
                f"of train.distribute={self.kind}; use a multiple of {self.replicas}"
            )

    def dataset(self, batches: tf.data.Dataset):
        """Global batches in, each replica's consecutive slice out. Every worker of a multi-worker
        run builds the same (seeded) stream and keeps its own replicas' slices."""
        if not self.strategy:
            return batches
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return self.strategy.experimental_distribute_dataset(batches.with_options(options))

    def compile(self, train_step: Callable[[tuple], Logs]) -> Callable[[tuple], Logs]:
        """The train step as one graph: on one device `tf.function(train_step)` as ever; else every
        replica runs it on its slice and the logs are averaged over replicas."""
        if not self.strategy:
            return tf.function(train_step)
        strategy = self.strategy

        @tf.function
        def distributed_step(batch):
            logs = strategy.run(train_step, args=(batch,))
            return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in logs.items()}

        return distributed_step


def make_distribution(kind: str) -> Distribution:
    """Create the strategy; call this before any other TensorFlow work (multi-worker needs that)."""
    if kind == "none":
        return Distribution(kind, None)
    if kind == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return Distribution(kind, tf.distribute.MirroredStrategy([d.name for d in devices]))
    if kind == "multi_worker":
        return Distribution(kind, tf.distribute.MultiWorkerMirroredStrategy())
    raise ValueError(f"unknown distribute {kind!r}")  # config.py only lets the three through


def synchronize_batch_norm(model: keras.Model) -> None:
    """Make the model's batch-norm layers use the statistics of the global batch, not each replica's
    slice (Keras' `synchronized=True`: an all-reduce of the sums). Only for distributed runs: on one
    device it would compute the same statistics by another formula, changing the last bits."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True


def _replica() -> tuple[int, tf.Tensor | int]:
    """(replicas in sync, this replica's index) in the current replica context; (1, 0) outside one."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return 1, 0
    return context.num_replicas_in_sync, context.replica_id_in_sync_group


def loss_weight() -> float:
    """How much one replica's loss counts: 1/replicas, since the optimizer sums the replicas' gradients."""
    return 1.0 / _replica()[0]


def replica_share(draw: Callable[[tf.Tensor], tf.Tensor], rows: tf.Tensor, blocks: int = 1) -> tf.Tensor:
    """This replica's rows of random numbers drawn for the whole global batch.

    `draw(n)` draws n rows from a stateless seed. `rows` is how many rows this replica needs: `blocks`
    equal blocks, each this replica's slice of a global block (the discriminator's batch
    [real; fake] is two blocks). On one device it is just `draw(rows)`.
    """
    replicas, index = _replica()
    if replicas == 1:
        return draw(rows)
    block = rows // blocks
    start = tf.cast(index, block.dtype) * block
    mine = tf.concat([k * block * replicas + start + tf.range(block) for k in range(blocks)], axis=0)
    return tf.gather(draw(rows * replicas), mine)


def skip_together(gradients: list[tf.Tensor]) -> list[tf.Tensor]:
    """Under loss scaling on several replicas: if any replica's gradients overflowed, every replica's
    become NaN, so that all of them skip the step.

    Keras' LossScaleOptimizer (3.15) decides whether to skip from the first replica's own gradients
    only, before the all-reduce; an overflow on another replica alone would reach every copy of the
    weights through the summed gradient and turn them into NaN (tests/test_distribute.py shows it).
    """
    replicas, _ = _replica()
    if replicas == 1:
        return gradients
    overflowed = tf.cast(
        tf.logical_not(tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in gradients if g is not None])),
        tf.float32,
    )
    anywhere = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, overflowed) > 0
    return [None if g is None else tf.where(anywhere, tf.constant(float("nan"), g.dtype), g) for g in gradients]

