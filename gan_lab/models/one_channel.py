"""`OneChannelConvTranspose`: Conv2DTranspose to a single channel, the same layer computed faster on CPU.

The CNN generator ends in Conv2DTranspose(1, 7, padding="same"): 64 feature maps to one image.
TensorFlow runs that forward pass as a convolution's input gradient with one output channel, which
oneDNN computes at about a tenth of the speed of the layers before it: measured on a 2-core CPU at
batch 128, 30 ms of a 250 ms training step for 1 % of the step's arithmetic (bench/profile_step.py).

With stride 1 and an odd kernel, a transposed convolution is an ordinary one with the kernel
flipped, and with one output channel that is a depthwise convolution (each input channel with its
own kernel slice) summed over channels: 5 ms instead of 30. The backward pass keeps TensorFlow's
own gradient ops, which are fast here. Same weights, same shapes, same saved format (plus this
class name); outputs equal Conv2DTranspose's up to float rounding (tests/test_one_channel.py).
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers


@tf.custom_gradient
def conv_transpose_to_one_channel(x: tf.Tensor, kernel: tf.Tensor):
    """`tf.nn.conv2d_transpose(x, kernel, stride 1, "SAME")` for a (k, k, 1, channels) kernel, k odd."""
    flipped = tf.transpose(kernel[::-1, ::-1], [0, 1, 3, 2])  # (k, k, channels, 1): one slice per channel
    image = tf.reduce_sum(tf.nn.depthwise_conv2d(x, flipped, [1, 1, 1, 1], "SAME"), axis=-1, keepdims=True)

    def gradient(upstream: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:  # what TensorFlow registers for conv2d_transpose
        d_x = tf.nn.conv2d(upstream, kernel, 1, "SAME")
        d_kernel = tf.raw_ops.Conv2DBackpropFilter(
            input=upstream, filter_sizes=tf.shape(kernel), out_backprop=x, strides=[1, 1, 1, 1], padding="SAME"
        )
        return d_x, d_kernel

    return image, gradient


@keras.saving.register_keras_serializable(package="gan_lab")
class OneChannelConvTranspose(layers.Conv2DTranspose):
    """Conv2DTranspose(1, kernel_size, padding="same"), stride 1, odd kernel: the fast path above."""

    def __init__(self, kernel_size: int, **kwargs):
        kwargs.setdefault("filters", 1)
        kwargs.setdefault("padding", "same")
        super().__init__(kernel_size=kernel_size, **kwargs)
        if self.filters != 1 or self.strides != (1, 1) or self.padding != "same" or self.kernel_size[0] % 2 == 0:
            raise ValueError(
                f"OneChannelConvTranspose is for filters=1, strides=1, padding='same' and an odd kernel; "
                f"got filters={self.filters}, strides={self.strides}, padding={self.padding!r}, "
                f"kernel_size={self.kernel_size}"
            )

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        outputs = conv_transpose_to_one_channel(inputs, tf.convert_to_tensor(self.kernel))
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs)
