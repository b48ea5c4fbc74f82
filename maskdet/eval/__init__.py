"""Evaluation: metrics, detector / pipeline / classifier / close-up reports, plots, baselines."""
