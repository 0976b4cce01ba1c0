"""Time-series anomaly detector: a plain function on a pandas frame (timestamp, value), no Spark.

Method (seasonal robust baseline, causal):
- expected value at t = median of the values one, two, ... K seasons earlier (same weekday for daily
  data, same time of day for sub-daily data), found by timestamp, so irregular series work; when fewer than
  two such values exist, the median of the last 7 points stands in.
- spread at t = 1.4826 x median |residual| of the previous `window` points (MAD; for averages, residuals are
  scaled by sqrt(n observations) first and the spread by 1/sqrt(n_t) after); for counts it is
  floored by sqrt(expected) + 1 (a Poisson standard deviation plus slack), so quiet series with a few
  reviews a day do not alarm on every 3 instead of 1.
- z = (value - expected) / spread; a point is an anomaly when |z| >= threshold in the watched direction and
  it has at least `min_history` earlier points. score = 1 - 2^-((z/threshold)^2), 0.5 at the threshold.
Every quantity at t uses only points before t, so scoring a series in one go (backfill) or one night at a
time gives the same answers. Why this and not STL/Prophet: STL needs the future of a point to smooth it
(look-ahead) and both need long regular series; medians over past seasons are robust to the spikes they are
meant to find, need a few weeks of history, and vectorise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DETECTOR_VERSION = "seasonal-median-mad-1"
MAD_TO_SIGMA = 1.4826
RECENT_POINTS = 7


@dataclass(frozen=True)
class DetectorSettings:
    """Knobs of `detect`; the defaults suit daily review metrics."""

    season: pd.Timedelta | None = None   # None: 1 week for daily-or-coarser data, 1 day for finer
    seasons_back: int = 4                # K: how many past seasons vote for the expected value
    window: int = 56                     # points whose residuals give the spread
    min_history: int = 14                # earlier points needed before a point can be flagged
    threshold: float = 4.0               # |z| at which a point is an anomaly
    direction: str = "both"              # up | down | both
    counts: bool = False                 # Poisson floor on the spread
    unit_sd: float | None = None         # means: sd of one observation; spread >= unit_sd / sqrt(support)
    min_spread: float = 1e-6


def infer_season(timestamps: pd.Series) -> pd.Timedelta:
    """Weekly season for daily or coarser data, daily for intraday data."""
    steps = timestamps.sort_values().diff().dropna()
    step = steps.median() if len(steps) else pd.Timedelta(days=1)
    return pd.Timedelta(days=7) if step >= pd.Timedelta(hours=23) else pd.Timedelta(days=1)


def _same_phase_values(times: np.ndarray, values: np.ndarray, season: np.int64, k: int,
                       tolerance: np.int64) -> np.ndarray:
    """values at (times - k*season), matched within tolerance; NaN where no point is there."""
    target = times - k * season
    index = np.searchsorted(times, target)
    out = np.full(len(times), np.nan)
    for candidate in (index - 1, index):
        valid = (candidate >= 0) & (candidate < len(times))
        near = np.zeros(len(times), dtype=bool)
        near[valid] = np.abs(times[candidate[valid]] - target[valid]) <= tolerance
        # only strictly earlier points (no look-ahead even when timestamps repeat)
        near[valid] &= candidate[valid] < np.arange(len(times))[valid]
        fill = near & np.isnan(out)
        out[fill] = values[candidate[fill]]
    return out


def detect(series: pd.DataFrame, settings: DetectorSettings | None = None, time_col: str = "timestamp",
           value_col: str = "value", support_col: str | None = None) -> pd.DataFrame:
    """Score every point of one series; returns the input columns plus expected, score, is_anomaly, z.

    `support_col` (with settings.unit_sd) names how many observations each value averages: a mean rating
    over two reviews may swing far without meaning anything.
    """
    settings = settings or DetectorSettings()
    if settings.direction not in ("up", "down", "both"):
        raise ValueError(f"direction must be up, down or both, not {settings.direction!r}")
    frame = series[[time_col, value_col] + ([support_col] if support_col else [])].copy()
    frame[time_col] = pd.to_datetime(frame[time_col], utc=True)
    frame = frame.sort_values(time_col, kind="stable").reset_index(drop=True)
    values = frame[value_col].to_numpy(dtype=float)
    times = frame[time_col].dt.tz_convert(None).to_numpy().astype("datetime64[ns]").astype(np.int64)
    season = settings.season or infer_season(frame[time_col])
    steps = np.diff(times)
    step = np.int64(np.median(steps)) if len(steps) else np.int64(pd.Timedelta(days=1).value)
    # Irregular series: a same-phase neighbour may sit up to one typical step away.
    tolerance = np.int64(max(step, 1))

    lagged = np.column_stack([_same_phase_values(times, values, np.int64(season.value), k, tolerance)
                              for k in range(1, settings.seasons_back + 1)]) if len(values) else np.zeros((0, 1))
    seasonal_votes = np.sum(~np.isnan(lagged), axis=1)
    voted = np.where(seasonal_votes[:, None] >= 2, lagged, np.nan)
    seasonal = np.full(len(values), np.nan)
    has_votes = seasonal_votes >= 2
    seasonal[has_votes] = np.nanmedian(voted[has_votes], axis=1)
    # Too little seasonal history: the local level (median of the last few points) stands in.
    recent = pd.Series(values).rolling(RECENT_POINTS, min_periods=2).median().shift(1).to_numpy()
    expected = np.where(np.isnan(seasonal), recent, seasonal)

    residual = values - expected
    # An average over n observations has sd ~ 1/sqrt(n): residuals are put on a one-observation scale
    # before their MAD is taken, then scaled back for each point's own n.
    root_n = (np.sqrt(np.clip(frame[support_col].to_numpy(dtype=float), 1.0, None))
              if support_col else np.ones(len(values)))
    spread = (pd.Series(np.abs(residual * root_n)).rolling(settings.window, min_periods=max(3, settings.window // 4))
              .median().shift(1).to_numpy() * MAD_TO_SIGMA)
    if settings.unit_sd:
        spread = np.fmax(spread, settings.unit_sd)
    spread = spread / root_n
    if settings.counts:
        # Poisson sd plus one count of slack: a median of a few small counts runs low.
        spread = np.fmax(spread, np.sqrt(np.clip(expected, 1.0, None)) + 1.0)
    spread = np.fmax(np.nan_to_num(spread, nan=np.inf), settings.min_spread)
    z = np.where(np.isnan(expected) | np.isnan(values), 0.0, residual / spread)
    watched = {"up": z, "down": -z, "both": np.abs(z)}[settings.direction]
    enough_history = np.arange(len(values)) >= settings.min_history
    is_anomaly = enough_history & (watched >= settings.threshold)
    score = np.where(enough_history, 1.0 - np.power(2.0, -np.square(np.clip(watched, 0, None) / settings.threshold)),
                     0.0)
    frame["expected"] = expected
    frame["z"] = z
    frame["score"] = score
    frame["is_anomaly"] = is_anomaly
    return frame


def detect_many(frame: pd.DataFrame, entity_col: str | None, settings: DetectorSettings | None = None,
                time_col: str = "timestamp", value_col: str = "value") -> pd.DataFrame:
    """`detect` per entity (each entity is its own series)."""
    if entity_col is None:
        return detect(frame, settings, time_col, value_col)
    parts = []
    for entity, group in frame.groupby(entity_col, sort=True):
        scored = detect(group, settings, time_col, value_col)
        scored.insert(0, entity_col, entity)
        parts.append(scored)
    return pd.concat(parts, ignore_index=True) if parts else frame.assign(expected=[], z=[], score=[],
                                                                          is_anomaly=[])
