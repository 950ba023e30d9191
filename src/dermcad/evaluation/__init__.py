"""Evaluation: pure metrics (numpy only), calibration, thresholds, plots and reports."""
