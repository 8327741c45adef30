"""Thin DVC stage entry points: read params, call gan_lab, write the outputs dvc.yaml declares."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow C++ log lines (start-up notes, grappler messages) off the progress display
