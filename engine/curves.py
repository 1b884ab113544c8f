"""Curve shaping for the training cockpit: exponential smoothing and an outlier clip.

Plain lists in, plain lists out, so the Run monitor and the tests share one definition.
"""

from __future__ import annotations

from collections.abc import Sequence


def smooth(values: Sequence[float], weight: float) -> list[float]:
    """Exponential moving average with TensorBoard's weight (0 = raw, 0.99 = very smooth),
    debiased so the first points are not pulled towards 0."""
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing weight {weight} must be in [0, 1)")
    out: list[float] = []
    avg, norm = 0.0, 0.0
    for v in values:
        avg = weight * avg + (1 - weight) * v
        norm = weight * norm + (1 - weight)
        out.append(avg / norm)
    return out


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (numpy's default method)."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# Clip to the 5th-95th percentile band widened by half its width on each side: a loss
# spike of 10x the typical value is cut, a steady decline of a few x is left whole.
CLIP_Q = 0.05
CLIP_MARGIN = 0.5


def clip_outliers(values: Sequence[float]) -> tuple[list[float], int]:
    """Values outside the band (see CLIP_Q) set to its edge, and how many were clipped."""
    if len(values) < 5:
        return list(values), 0
    low, high = quantile(values, CLIP_Q), quantile(values, 1 - CLIP_Q)
    pad = (high - low) * CLIP_MARGIN
    low, high = low - pad, high + pad
    clipped = [min(max(v, low), high) for v in values]
    return clipped, sum(1 for v in values if v < low or v > high)
