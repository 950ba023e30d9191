"""Training: typed recipes, data loading, the training loop, DDP. Imports torch."""
