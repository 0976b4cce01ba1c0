"""Every anomaly detector on the labelled real series (NAB corpus in ../shared/data/real/anomaly_series), scored
by the NAB rules (bench/nab.py), with the never-firing baseline in the same run.

    python bench/anomalies_real.py [--data DIR] [--false-alarm-rate 1e-3] [--quiet-after 12]

Two views per detector:
- swept: NAB's published way, one score threshold for the corpus chosen per profile (standard, low FP,
  low FN) to maximise the corpus score;
- as flagged: the detector's own yes/no flags at the given false-alarm rate (what `detect-anomalies` writes),
  with its NAB standard score and the share of points outside the labelled windows that it flags.
Time per 10k points is the detector's wall time over the corpus, scaled.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.nab import best_threshold, fixed_score, load_corpus, load_profiles, outside_window_share  # noqa: E402
from reviewlake.base_sentiment import real_data_dir  # noqa: E402
from udfs.anomaly import DETECTORS, detect, generic_settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="anomaly_series folder (default: the shared one)")
    parser.add_argument("--false-alarm-rate", type=float, default=None,
                        help="flag rate for the 'as flagged' view (default: the CLI's)")
    parser.add_argument("--quiet-after", type=int, default=None, help="points (default: the CLI's)")
    args = parser.parse_args()
    root = args.data or (real_data_dir() / "anomaly_series")
    corpus, profiles = load_corpus(root), load_profiles(root)
    points = sum(len(s.frame) for s in corpus)
    windows = sum(len(s.windows) for s in corpus)
    print(f"{len(corpus)} series, {points:,} points, {windows} labelled windows ({root.name})")
    header = (f"{'detector':20s} {'standard':>9s} {'low FP':>8s} {'low FN':>8s} | {'flagged: standard':>17s} "
              f"{'outside share':>13s} {'windows':>7s} {'FP':>5s} | {'s / 10k pts':>10s}")
    print(header)
    print("-" * len(header))
    never = [np.zeros(len(s.frame)) for s in corpus]
    swept = [best_threshold(corpus, never, p).normalised for p in profiles]
    print(f"{'never fires':20s} {swept[0]:9.1f} {swept[1]:8.1f} {swept[2]:8.1f} |")
    for detector in DETECTORS:
        started = time.perf_counter()
        scored = []
        for series in corpus:
            settings = generic_settings(series.frame["timestamp"], detector=detector)
            if args.false_alarm_rate is not None:
                settings = replace(settings, false_alarm_rate=args.false_alarm_rate)
            if args.quiet_after is not None:
                settings = replace(settings, quiet_after=args.quiet_after)
            scored.append(detect(series.frame, settings))
        elapsed = time.perf_counter() - started
        # The sweep ranks what the detector would alarm on: with quiet_after, only new highs of an episode.
        alarms = [_episode_highs(s["score"].to_numpy(), settings.quiet_after) for s in scored]
        swept = [best_threshold(corpus, alarms, p) for p in profiles]
        flags = [s["is_anomaly"].to_numpy() for s in scored]
        as_flagged = fixed_score(corpus, flags, profiles[0])
        print(f"{detector:20s} {swept[0].normalised:9.1f} {swept[1].normalised:8.1f} {swept[2].normalised:8.1f} | "
              f"{as_flagged.normalised:17.1f} {outside_window_share(corpus, flags):13.2%} "
              f"{as_flagged.detected_windows:4d}/{windows} {as_flagged.false_positives:5d} | "
              f"{elapsed / points * 10_000:10.3f}")
    print(f"\nflag rule: false-alarm rate {settings.false_alarm_rate:g} (score >= {settings.threshold:.1f}), "
          f"quiet after {settings.quiet_after} points; swept thresholds per profile are NAB's optimum")


def _episode_highs(score: np.ndarray, quiet_after: int) -> np.ndarray:
    """The score where it beats the previous `quiet_after` points, else -inf (never fires): what the flag rule
    can alarm on."""
    if quiet_after <= 0:
        return score
    previous = np.array([score[max(0, i - quiet_after):i].max(initial=0.0) for i in range(len(score))])
    return np.where(score > previous, score, -np.inf)


if __name__ == "__main__":
    main()
