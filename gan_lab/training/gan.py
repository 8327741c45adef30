"""The GAN as one `keras.Model`: its `train_step` is the whole adversarial update.

Read this file to understand GAN training. One step:

1. draw a batch of latent vectors z (seeded by the step number, so runs and resumes repeat);
2. the generator turns z into fake images;
3. the discriminator scores real and fake images in one call (they are concatenated);
4. the discriminator's loss rewards calling real images real and fakes fake; the generator's
   loss is the non-saturating -log D(G(z)): it rewards fakes that the discriminator calls real;
5. one backward pass through D gives D's gradients and, re-weighted per image, the generator's
   gradient at its fakes (`generator_over_discriminator`), which runs back through G;
6. each optimizer updates only its own network's weights.

On several devices (gan_lab/training/distribute.py) every replica runs this same step on its slice of the
batch; the only traces of that here are `replica_share` (each replica takes its rows of noise
drawn for the whole batch) and `gradient_scale` (how much each replica's loss counts). In a
one-device float32 run both do nothing.

Why not the lab's `discriminator.trainable = False` trick? Keras 3 builds a model's train function
once; toggling `trainable` afterwards does not change what it updates, so in the lab's code the
discriminator never trains. Two explicit gradient tapes over explicit variable lists cannot go wrong
that way.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import partial

import keras
import tensorflow as tf
from keras import ops

from gan_lab.training.augment import diff_augment
from gan_lab.training.distribute import loss_weight, replica_share, skip_together
from gan_lab.training.precision import FLOAT32


class GAN(keras.Model):
    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        latent_dim: int,
        *,
        conditional: bool = False,
        seed: int = 0,
        label_smoothing: float = 0.0,
        diffaugment: bool = False,
        r1_gamma: float = 0.0,
        precision: str = FLOAT32,
    ):
        super().__init__(name="gan")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.conditional = conditional
        self.seed = seed
        self.label_smoothing = label_smoothing
        self.diffaugment = diffaugment
        self.r1_gamma = r1_gamma
        self.precision = precision  # the dtype policy its networks were built in (recorded in timing.json)

    def compile(self, g_optimizer: keras.optimizers.Optimizer, d_optimizer: keras.optimizers.Optimizer) -> None:
        super().compile()
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        g_optimizer.build(self.generator.trainable_variables)
        d_optimizer.build(self.discriminator.trainable_variables)

    def generate(self, z: tf.Tensor, labels: tf.Tensor | None = None, training: bool = False) -> tf.Tensor:
        return self.generator([z, labels] if self.conditional else z, training=training)

    @contextlib.contextmanager
    def averaged_generator(self) -> Iterator[None]:
        """Inside the block, the generator holds the moving average of its weights, if it keeps one.

        With `g_ema` > 0 the generator's optimizer averages the weights after every update (Keras'
        `use_ema`). A GAN's weights orbit a good solution from step to step, and their average
        sits nearer its centre (Yazici et al. 2019), so the samples, GIF frames and saved
        generator come from it. Training never sees the average: the raw weights come back on exit.
        """
        optimizer = getattr(self.g_optimizer, "inner_optimizer", self.g_optimizer)  # under loss scaling
        if not optimizer.use_ema:
            yield
            return
        weights = self.generator.trainable_variables
        raw = [w.numpy() for w in weights]
        optimizer.finalize_variable_values(weights)
        try:
            yield
        finally:
            for weight, value in zip(weights, raw):
                weight.assign(value)

    def discriminate(self, images: tf.Tensor, labels: tf.Tensor | None = None, training: bool = False) -> tf.Tensor:
        return self.discriminator([images, labels] if self.conditional else images, training=training)

    def step_seed(self, stream: int) -> tf.Tensor:
        """A stateless-RNG seed that depends only on (seed, step, stream): reruns draw the same noise."""
        step = tf.cast(self.d_optimizer.iterations, tf.int32)
        return tf.stack([tf.constant(self.seed, tf.int32), step * 2 + stream])

    def noise(self, n: tf.Tensor) -> tf.Tensor:
        """This step's n latent vectors, drawn from the stateless seed of (seed, step)."""
        return tf.random.stateless_normal((n, self.latent_dim), seed=self.step_seed(0))

    @staticmethod
    def gradient_scale(optimizer: keras.optimizers.Optimizer) -> tf.Tensor | float:
        """How many times d loss / d weights the gradients handed to `optimizer.apply` must be.

        1 on one device in float32. Otherwise:

        - 1/replicas on several devices: each replica's loss is a mean over its slice of the
          batch, and the optimizer sums the replicas' gradients;
        - times the loss scale under mixed_float16: LossScaleOptimizer has the gradients computed
          `scale` times larger, so small ones do not underflow in float16, and `apply` divides back
          (or skips the step and halves the scale if they overflowed: on every replica at once).
        """
        scale = loss_weight()
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return optimizer.scale_loss(scale)
        return scale

    @staticmethod
    def gradients(
        tape: tf.GradientTape,
        target: tf.Tensor,
        sources: list,
        optimizer: keras.optimizers.Optimizer,
        upstream: tf.Tensor | float,
    ) -> list:
        """d loss / d sources back-propagated from `target`, as `optimizer.apply` expects them.

        `upstream` is d loss / d target (1 when the target is the loss itself) already multiplied
        by `gradient_scale(optimizer)`: the same as differentiating the scaled loss.
        """
        gradients = tape.gradient(target, sources, output_gradients=tf.cast(upstream, target.dtype))
        return skip_together(gradients) if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) else gradients

    @staticmethod
    def generator_over_discriminator(fake_score: tf.Tensor) -> tf.Tensor:
        """For each fake image, d g_loss / d p over d d_loss / d p, where p = D(G(z)) is its score.

        The generator's loss -log p and the fake half of the discriminator's loss -log(1 - p) reach
        a fake image only through its score, and the discriminator scores each image on its own, so
        their gradients at the image differ by this one number per image: (-1/p) / (1/(1 - p)).
        It is the non-saturating loss's whole trick: where D rejects a fake (p near 0) the
        generator's gradient is (1 - p)/p times larger than the discriminator's, not vanishing with
        it. (Outside Keras' clip [1e-7, 1 - 1e-7] both gradients are 0, and so is the product.)
        """
        p = ops.maximum(ops.reshape(fake_score, (-1, 1, 1, 1)), keras.config.epsilon())
        return -(1.0 - p) / p

    @staticmethod
    def r1_penalty(tape: tf.GradientTape, images: tf.Tensor, real_score: tf.Tensor, batch: tf.Tensor) -> tf.Tensor:
        """R1 (Mescheder et al. 2018): the squared gradient of D's logit at real images.

        Penalising it keeps the discriminator flat around the data, so it cannot win by a cliff
        that gives the generator no useful gradient. The gradient is taken inside the
        discriminator's tape, so its own gradient (a second derivative) reaches D's weights.
        """
        probability = ops.clip(real_score, 1e-6, 1.0 - 1e-6)
        dlogit_dprobability = 1.0 / (probability * (1.0 - probability))  # logit = log(p / (1 - p))
        gradient = tape.gradient(real_score, images, output_gradients=dlogit_dprobability)[:batch]
        return ops.mean(ops.sum(ops.square(gradient), axis=(1, 2, 3)))

    def backward(
        self, d_tape: tf.GradientTape, g_tape: tf.GradientTape, d_loss: tf.Tensor, fake: tf.Tensor, fake_score: tf.Tensor
    ) -> tuple[list, list]:
        """Both networks' gradients, as their optimizers' `apply` expects them, from one pass back through D.

        Only d_loss is differentiated through D: with respect to D's weights (D's gradients) and to
        the fake images. That gradient at each fake, times `generator_over_discriminator(p)`, is
        g_loss's gradient there, which then runs back through G alone: g_loss itself is never
        differentiated, and D is not back-propagated a second time for the generator.

        The textbook version back-propagates g_loss through D and G on a tape of its own (the
        TensorFlow DCGAN tutorial; `direct_generator_gradients` in tests/test_shared_backward.py,
        which checks the two agree for every discriminator family, and `two_tape_step` in
        bench/train_speed.py, which times them). It costs a second backward pass through D.
        """
        d_vars = self.discriminator.trainable_variables
        g_vars = self.generator.trainable_variables
        d_scale = self.gradient_scale(self.d_optimizer)  # read before `apply` may change a loss scale
        g_scale = self.gradient_scale(self.g_optimizer)
        *d_grads, d_loss_at_fake = self.gradients(d_tape, d_loss, d_vars + [fake], self.d_optimizer, d_scale)
        g_loss_at_fake = d_loss_at_fake / d_scale * self.generator_over_discriminator(fake_score)
        g_grads = self.gradients(g_tape, fake, g_vars, self.g_optimizer, g_loss_at_fake * g_scale)
        return d_grads, g_grads

    def train_step(self, data: tuple[tf.Tensor, tf.Tensor]) -> dict[str, tf.Tensor]:
        real, labels = data
        batch = tf.shape(real)[0]
        z = replica_share(self.noise, batch)  # several devices: this replica's rows of the batch's noise

        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = self.generate(z, labels, training=True)
            images = ops.concatenate([real, fake], axis=0)
            if self.diffaugment:
                images = diff_augment(images, self.step_seed(1), share=partial(replica_share, blocks=2))
            both_labels = ops.concatenate([labels, labels], axis=0) if self.conditional else None
            with tf.GradientTape() as input_tape:  # read only by the R1 penalty (pruned from the graph when off)
                input_tape.watch(images)
                scores = self.discriminate(images, both_labels, training=True)
                real_score, fake_score = scores[:batch], scores[batch:]
            real_target = ops.full_like(real_score, 1.0 - self.label_smoothing)  # one-sided smoothing
            d_loss = ops.mean(ops.binary_crossentropy(real_target, real_score)) + ops.mean(
                ops.binary_crossentropy(ops.zeros_like(fake_score), fake_score)
            )
            if self.r1_gamma > 0:
                d_loss += self.r1_gamma / 2 * self.r1_penalty(input_tape, images, real_score, batch)
            # g_loss is only logged: the generator's gradient is taken from d_loss's (see `backward`).
            g_loss = ops.mean(ops.binary_crossentropy(ops.ones_like(fake_score), fake_score))

        d_grads, g_grads = self.backward(d_tape, g_tape, d_loss, fake, fake_score)
        self.d_optimizer.apply(d_grads, self.discriminator.trainable_variables)
        self.g_optimizer.apply(g_grads, self.generator.trainable_variables)
        return {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real": ops.mean(real_score),  # D(x)
            "d_fake": ops.mean(fake_score),  # D(G(z))
            "d_real_accuracy": ops.mean(ops.cast(real_score > 0.5, "float32")),
            "d_fake_accuracy": ops.mean(ops.cast(fake_score < 0.5, "float32")),
        }
