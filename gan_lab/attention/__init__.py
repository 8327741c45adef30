"""Self-attention: the hand-written multi-head layer (layer; also used by the Transformer family), and the
attention_sweep stage's study (study) and figures (heatmaps)."""
