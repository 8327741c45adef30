"""The evaluator: the MNIST classifier whose features it uses (classifier), the metrics (metrics),
drawing samples (sampling) and scoring every generator (evaluate). Imported by stages/evaluate.py,
stages/train_classifier.py (classifier only) and `python -m gan_lab generate` (sampling)."""
