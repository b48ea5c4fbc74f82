"""Datasets: VOC parsing and splits, face-crop folders, synthetic masks, generated scenes."""
