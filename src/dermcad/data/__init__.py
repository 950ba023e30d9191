"""Data stage: ingestion readers, the dataset index, splits and synthetic data."""
