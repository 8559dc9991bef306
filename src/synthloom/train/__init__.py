"""Train a local classifier on labelled data (a run directory or a file) and evaluate it on real data."""
