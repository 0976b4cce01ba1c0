"""Scoring of anomaly detectors on labelled series, by the rules of the Numenta Anomaly Benchmark (NAB).

The rules, as the shared corpus describes them (../shared/data/real/ README, profiles.json):
- every point carries a detector score; a point is a detection when its score reaches the threshold, and one
  threshold serves the whole corpus (chosen per profile to maximise the corpus score, as NAB publishes);
- the first 15 % of each file (at most 750 points) is probation: detections there count for nothing;
- inside an anomaly window only the first detection counts, worth tp_weight x sigma(position) / sigma(-1):
  +1 at the window's first point, falling towards 0 at its last (scaled sigmoid 2 / (1 + e^(5 x)) - 1 of the
  relative position x in [-1, 0], divided by its value at -1 as NAB's sweeper does); later detections in the
  same window count for nothing;
- a detection outside every window costs fp_weight x sigma: -1 before the first window, and after a window
  a penalty that grows from ~0 right after the window's end to -1 three window-widths later;
- a window without a detection costs fn_weight (a window lying wholly inside probation is not scored);
- the corpus total is normalised: a detector that never fires scores 0 and a perfect one 100.

Pure functions on numpy/pandas; `python bench/anomalies_real.py` runs detectors through them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

PROBATION_PERCENT = 0.15
PROBATION_CAP = 5000          # NAB: probation never exceeds 15 % of 5,000 points
MAX_TP = float(2.0 / (1.0 + np.exp(-5.0)) - 1.0)     # the reward at a window's first point, scaled to 1


@dataclass(frozen=True)
class Profile:
    """One cost matrix of NAB's profiles.json."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


@dataclass
class LabelledSeries:
    """One corpus file: its points and its anomaly windows (as point indexes, both ends included)."""

    name: str
    frame: pd.DataFrame                # timestamp, value
    windows: list[tuple[int, int]]


def scaled_sigmoid(position: np.ndarray | float) -> np.ndarray:
    """NAB's reward curve: 2 / (1 + e^(5x)) - 1, and -1 beyond three window widths past a window."""
    position = np.asarray(position, dtype=float)
    return np.where(position > 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * position)) - 1.0)


def probation_length(n_points: int) -> int:
    return int(min(math.floor(PROBATION_PERCENT * n_points), PROBATION_PERCENT * PROBATION_CAP))


def point_weights(n_points: int, windows: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(unweighted score of a detection at each point, window id or -1) for one file."""
    weight = np.full(n_points, -1.0)
    window_of = np.full(n_points, -1)
    index = np.arange(n_points)
    for number, (left, right) in enumerate(windows):
        width = right - left + 1
        inside = (index >= left) & (index <= right)
        weight[inside] = scaled_sigmoid(-(right - index[inside] + 1) / width) / MAX_TP
        window_of[inside] = number
        following = windows[number + 1][0] if number + 1 < len(windows) else n_points
        after = (index > right) & (index < following)
        weight[after] = scaled_sigmoid(np.abs(right - index[after]) / max(width - 1, 1))
    return weight, window_of


def load_profiles(root: Path) -> list[Profile]:
    raw = json.loads((root / "profiles.json").read_text())
    names = {"standard": "standard", "reward_low_FP_rate": "low_fp", "reward_low_FN_rate": "low_fn"}
    return [Profile(names.get(name, name), m["CostMatrix"]["tpWeight"], m["CostMatrix"]["fpWeight"],
                    m["CostMatrix"]["fnWeight"]) for name, m in raw.items()]


def load_corpus(root: Path) -> list[LabelledSeries]:
    """Every file named in windows.json, with window bounds turned into point indexes."""
    windows = json.loads((root / "windows.json").read_text())
    corpus = []
    for name in sorted(windows):
        frame = pd.read_csv(root / "data" / name, parse_dates=["timestamp"])
        times = frame["timestamp"].to_numpy()
        bounds = []
        for start, end in windows[name]:
            left = int(np.searchsorted(times, np.datetime64(pd.Timestamp(start)), side="left"))
            right = int(np.searchsorted(times, np.datetime64(pd.Timestamp(end)), side="right")) - 1
            bounds.append((left, right))
        corpus.append(LabelledSeries(name, frame, bounds))
    return corpus


@dataclass(frozen=True)
class CorpusScore:
    profile: str
    threshold: float
    normalised: float
    raw: float
    detected_windows: int
    false_positives: int


def _candidates(corpus: list[LabelledSeries], scores: list[np.ndarray]):
    """Per scoring point outside probation: (score, unweighted, global window id) over the corpus."""
    all_scores, all_weights, all_windows = [], [], []
    offset = 0
    for series, score in zip(corpus, scores, strict=True):
        n = len(series.frame)
        weight, window_of = point_weights(n, series.windows)
        start = probation_length(n)
        # an infinite score still ranks above every finite one; NaN never fires
        all_scores.append(np.nan_to_num(np.asarray(score, dtype=float)[start:], nan=-np.inf,
                                        posinf=np.finfo(float).max))
        all_weights.append(weight[start:])
        all_windows.append(np.where(window_of[start:] >= 0, window_of[start:] + offset, -1))
        offset += len(series.windows)
    windows = np.concatenate(all_windows)
    # Window ids are kept as they are; a window with no point after probation is never scored (NAB).
    scored = np.zeros(offset, dtype=bool)
    scored[windows[windows >= 0]] = True
    return np.concatenate(all_scores), np.concatenate(all_weights), windows, scored


def raw_score(corpus: list[LabelledSeries], detections: list[np.ndarray], profile: Profile) -> tuple[float, int, int]:
    """(raw corpus score, windows detected, false positives) of fixed yes/no detections."""
    scores = [np.where(np.asarray(d, dtype=bool), 1.0, 0.0) for d in detections]
    score, weight, window, scorable = _candidates(corpus, scores)
    fired = score >= 1.0
    outside = fired & (window < 0)
    total = profile.fp_weight * weight[outside].sum()
    best = np.full(len(scorable), np.nan)
    for w, value in zip(window[fired & (window >= 0)], weight[fired & (window >= 0)], strict=True):
        best[w] = value if np.isnan(best[w]) else max(best[w], value)
    found = ~np.isnan(best)
    total += profile.tp_weight * best[found].sum() - profile.fn_weight * (scorable & ~found).sum()
    return float(total), int(found.sum()), int(outside.sum())


def best_threshold(corpus: list[LabelledSeries], scores: list[np.ndarray], profile: Profile) -> CorpusScore:
    """Sweep every distinct score as the corpus threshold (highest first) and keep the best total."""
    score, weight, window, scorable = _candidates(corpus, scores)
    order = np.argsort(-score, kind="stable")
    score, weight, window = score[order], weight[order], window[order]
    null_total, perfect_total = normalisers(corpus, profile)
    best_in_window = np.full(len(scorable), np.nan)
    total = -profile.fn_weight * scorable.sum()        # nothing fires above the highest score
    best = (total, np.inf, 0, 0)
    found = false_positives = 0
    i = 0
    while i < len(score) and score[i] > -np.inf:
        j = i
        while j < len(score) and score[j] == score[i]:   # ties enter together
            w = window[j]
            if w < 0:
                total += profile.fp_weight * weight[j]
                false_positives += 1
            elif np.isnan(best_in_window[w]):
                best_in_window[w] = weight[j]
                total += profile.fn_weight + profile.tp_weight * weight[j]
                found += 1
            elif weight[j] > best_in_window[w]:
                total += profile.tp_weight * (weight[j] - best_in_window[w])
                best_in_window[w] = weight[j]
            j += 1
        if total > best[0]:
            best = (total, score[i], found, false_positives)
        i = j
    total, threshold, found, false_positives = best
    return CorpusScore(profile.name, float(threshold), normalise(total, null_total, perfect_total), float(total),
                       found, false_positives)


def normalisers(corpus: list[LabelledSeries], profile: Profile) -> tuple[float, float]:
    """Raw corpus totals of the never-firing detector and of the perfect one (first point of each window)."""
    never = [np.zeros(len(s.frame), dtype=bool) for s in corpus]
    perfect = []
    for series in corpus:
        hits = np.zeros(len(series.frame), dtype=bool)
        hits[[left for left, _ in series.windows]] = True
        perfect.append(hits)
    return raw_score(corpus, never, profile)[0], raw_score(corpus, perfect, profile)[0]


def normalise(total: float, null_total: float, perfect_total: float) -> float:
    return 100.0 * (total - null_total) / (perfect_total - null_total)


def fixed_score(corpus: list[LabelledSeries], detections: list[np.ndarray], profile: Profile) -> CorpusScore:
    """Corpus score of yes/no flags as the detector raised them (its own threshold, no sweep)."""
    total, found, false_positives = raw_score(corpus, detections, profile)
    null_total, perfect_total = normalisers(corpus, profile)
    return CorpusScore(profile.name, float("nan"), normalise(total, null_total, perfect_total), total, found,
                       false_positives)


def outside_window_share(corpus: list[LabelledSeries], detections: list[np.ndarray]) -> float:
    """Share of all points outside every window (probation included) that were flagged."""
    flagged = points = 0
    for series, hits in zip(corpus, detections, strict=True):
        outside = np.ones(len(series.frame), dtype=bool)
        for left, right in series.windows:
            outside[left:right + 1] = False
        flagged += int(np.asarray(hits, dtype=bool)[outside].sum())
        points += int(outside.sum())
    return flagged / max(points, 1)
