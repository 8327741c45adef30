"""Thin DVC stage entry points: read params, call gan_lab, write the outputs dvc.yaml declares."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter off the progress display
