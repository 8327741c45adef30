"""The training stages' code: the GAN's train step (gan), the loop and its outputs (loop), and what the
step is built from (augment, distribute, precision). Imported by stages/train.py."""
