"""The report stage: reports/report.md from the metrics files and template.md. No TensorFlow."""
