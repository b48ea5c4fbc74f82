"""Calibrated probabilities and an `unknown` cut-off, fitted on out-of-fold predictions.

Temperature scaling (Guo et al. 2017): one scalar T divides the logits, chosen to minimise the
negative log-likelihood on predictions the model did not train on; it changes confidences, never
the top class. The `unknown` cut-off is the confidence below which the classifier is wrong more
often than right on those same predictions. Both go into the classifier's config.json.
"""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of `logits / temperature`, float32."""
    z = np.asarray(logits, np.float64) / temperature
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    p = softmax(logits, temperature).astype(np.float64)
    return float(-np.mean(np.log(np.maximum(p[np.arange(len(labels)), labels], 1e-12))))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T in [0.05, 20] minimising the NLL of softmax(logits / T): a log grid, then a finer one around the best."""
    logits, labels = np.asarray(logits, np.float64), np.asarray(labels, np.int64)
    if len(labels) == 0:
        raise ValueError("fit_temperature needs at least one prediction, but got none")
    grid = np.geomspace(0.05, 20, 121)
    best = grid[int(np.argmin([nll(logits, labels, t) for t in grid]))]
    fine = np.geomspace(best / 1.06, best * 1.06, 41)
    return float(fine[int(np.argmin([nll(logits, labels, t) for t in fine]))])


def fit(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(temperature, `unknown` cut-off) for predictions the model did not train on: the cut-off is read
    off the calibrated confidences, as the pipeline will see them."""
    temperature = fit_temperature(logits, labels)
    probs = softmax(logits, temperature)
    return temperature, unknown_threshold(probs.max(axis=1), probs.argmax(axis=1) == np.asarray(labels))


def isotonic(values: np.ndarray) -> np.ndarray:
    """The non-decreasing sequence closest to `values` in squared error (pool adjacent violators)."""
    means: list[float] = []
    sizes: list[int] = []
    for v in np.asarray(values, np.float64):
        means.append(float(v))
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            n = sizes[-2] + sizes[-1]
            means[-2] = (means[-2] * sizes[-2] + means[-1] * sizes[-1]) / n
            sizes[-2] = n
            del means[-1], sizes[-1]
    return np.repeat(means, sizes)


def unknown_threshold(confidence: np.ndarray, correct: np.ndarray, min_count: int = 5) -> float:
    """The top-class probability below which the classifier is wrong more often than right.

    Accuracy as a non-decreasing function of confidence (isotonic fit of right / wrong, sorted by
    confidence); the cut-off is the lowest confidence where that accuracy reaches 0.5. 0.0 (nothing
    unknown) when fewer than `min_count` predictions would fall below it.
    """
    order = np.argsort(confidence, kind="stable")
    conf = np.asarray(confidence, np.float64)[order]
    accuracy = isotonic(np.asarray(correct, np.float64)[order])
    reached = np.flatnonzero(accuracy >= 0.5)
    below = int(reached[0]) if len(reached) else len(conf)
    if below < min_count:
        return 0.0
    return float(conf[below]) if below < len(conf) else float(conf[-1]) + 1e-6


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> dict:
    """Per confidence bin: mean confidence, accuracy and count; and the expected calibration error (ECE)."""
    confidence, correct = np.asarray(confidence, np.float64), np.asarray(correct, np.float64)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        sel = idx == b
        n = int(sel.sum())
        conf = float(confidence[sel].mean()) if n else None
        acc = float(correct[sel].mean()) if n else None
        if n:
            ece += n / len(confidence) * abs(acc - conf)
        rows.append(
            {"low": float(edges[b]), "high": float(edges[b + 1]), "confidence": conf, "accuracy": acc, "count": n}
        )
    return {"bins": rows, "ece": float(ece)}
