"""The NAB-rule scorer in bench/nab.py on hand-made cases; expected totals worked out by hand from the rules
(sigma(x) = 2 / (1 + e^(5x)) - 1 of the relative position x; a detection in a window earns sigma(x) / sigma(-1),
outside one it costs fp x sigma; standard costs tp 1, fp 0.11, fn 1)."""

import numpy as np
import pandas as pd
import pytest

from bench.nab import LabelledSeries, Profile, best_threshold, fixed_score, outside_window_share, raw_score

STANDARD = Profile("standard", 1.0, 0.11, 1.0)
LOW_FN = Profile("low_fn", 1.0, 0.11, 2.0)
# 100 points: probation is the first 15; one window over points 60..69.
SERIES = LabelledSeries("one", pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=100, freq="5min"),
                                             "value": 0.0}), [(60, 69)])
FIRST_POINT_REWARD = 1.0                     # x = -1: sigma(-1) / sigma(-1)
POINT_65_REWARD = 0.8597925669097837         # x = -(69 - 65 + 1) / 10 = -0.5: 0.848284 / 0.986614
RIGHT_AFTER_PENALTY = -0.2708471185167214    # point 70: x = |69 - 70| / (10 - 1), unscaled


def flags(*indexes, n=100):
    hits = np.zeros(n, dtype=bool)
    hits[list(indexes)] = True
    return hits


def test_never_firing_scores_zero_and_perfect_scores_hundred():
    assert fixed_score([SERIES], [flags()], STANDARD).normalised == pytest.approx(0.0)
    assert fixed_score([SERIES], [flags(60)], STANDARD).normalised == pytest.approx(100.0)
    assert raw_score([SERIES], [flags()], LOW_FN)[0] == pytest.approx(-2.0)


def test_first_detection_in_window_counts_probation_ignored_false_positives_cost():
    # 65 and 67 in the window (only 65 counts), 30 before the window (-1 x 0.11), 5 in probation (nothing),
    # 70 right after the window (small penalty).
    hits = flags(5, 30, 65, 67, 70)
    total, found, false_positives = raw_score([SERIES], [hits], STANDARD)
    assert total == pytest.approx(POINT_65_REWARD - 0.11 + 0.11 * RIGHT_AFTER_PENALTY)
    assert (found, false_positives) == (1, 2)
    assert fixed_score([SERIES], [hits], STANDARD).normalised == pytest.approx(85.99997, abs=1e-3)
    # The low-FN profile doubles the cost of a miss, so the same detections are worth more against it.
    assert fixed_score([SERIES], [hits], LOW_FN).normalised == pytest.approx(90.66665, abs=1e-3)


def test_penalty_grows_with_distance_after_a_window():
    near = raw_score([SERIES], [flags(60, 70)], STANDARD)[0]
    far = raw_score([SERIES], [flags(60, 99)], STANDARD)[0]
    assert far == pytest.approx(FIRST_POINT_REWARD - 0.11)        # > 3 widths past: a full false positive
    assert near > far


def test_one_threshold_for_the_corpus_is_swept():
    scores = np.zeros(100)
    scores[30], scores[62], scores[40], scores[61] = 0.9, 0.8, 0.7, 0.6
    result = best_threshold([SERIES], [scores], STANDARD)
    # 0.8 keeps the false positive at 30 and the detection at 62 (x = -0.8): -0.11 + 0.97711 beats both
    # never firing (-1) and going down to 0.6 (two false positives, detection at 61: -0.22 + 0.99130).
    assert result.threshold == pytest.approx(0.8)
    assert result.raw == pytest.approx(-0.11 + 0.9771068409226045)
    assert (result.detected_windows, result.false_positives) == (1, 1)


def test_corpus_of_two_files_and_the_outside_share():
    quiet = LabelledSeries("quiet", SERIES.frame, [])
    hits = [flags(60), flags(50, 80)]
    total, found, false_positives = raw_score([SERIES, quiet], hits, STANDARD)
    assert total == pytest.approx(FIRST_POINT_REWARD - 2 * 0.11)  # no window in the quiet file: -1 each
    assert (found, false_positives) == (1, 2)
    assert outside_window_share([SERIES, quiet], hits) == pytest.approx(2 / 190)


def test_a_window_inside_probation_is_not_scored():
    early = LabelledSeries("early", SERIES.frame, [(2, 8), (60, 69)])
    # Never firing misses only the scorable window; the perfect detector's hit at 2 would count for nothing.
    assert raw_score([early], [flags()], STANDARD)[0] == pytest.approx(-1.0)
    assert fixed_score([early], [flags(60)], STANDARD).normalised == pytest.approx(100.0)
