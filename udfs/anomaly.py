"""Time-series anomaly detectors: plain functions on a pandas frame (timestamp, value), no Spark.

Every detector turns each point into a surprise score, score = -log10(tail probability of the point under
the detector's model of its past), unbounded: 2 means a 1-in-100 event, 4 a 1-in-10,000 one, so strong
anomalies rank above weak ones. A point is flagged when its tail probability is below the expected
false-alarm rate the user sets (score >= -log10(rate)), it has `min_history` earlier points, and, with
`quiet_after` > 0, it beats every score of the previous `quiet_after` points (one alarm per episode, not
one per point of a long anomaly). Every quantity at t uses only points before t (given the season), so
scoring a series in one go (backfill) or one night at a time gives the same answers.

Detectors (`DETECTORS`; bench/anomalies_real.py scores them on labelled real series by the NAB rules):
- seasonal-mad: expected value = median of the values one, two, ... K seasons earlier (same weekday for
  daily data, same time of day for sub-daily data), found by timestamp, so irregular series work; with fewer
  than two such values, the median of the last 7 points. Spread = 1.4826 x median |residual| over the
  previous `window` points (MAD), floored at a tenth of the values' own recent sd (a perfectly repeating
  series has MAD 0 and would alarm on rounding), by sqrt(expected) + 1 for counts (Poisson plus slack) and
  by unit_sd / sqrt(n) for averages over n observations. Tail of z = residual / spread under a normal.
- windowed-gaussian: mean and sd of the previous `window` points (the NAB paper's baseline).
- likelihood: the anomaly likelihood of Ahmad et al. (2017) on top of seasonal-mad: the mean surprise |z|
  of the last `short` points against the distribution of that mean over the previous `window` points, so
  a run of moderately odd points (a level shift, denser spikes) stands out even when no single one does.

Why seasonal medians and not STL/Prophet: STL needs the future of a point to smooth it (look-ahead) and both
need long regular series; medians over past seasons are robust to the spikes they are meant to find, need a
few seasons of history, and vectorise. The season itself is chosen from the data (`detect_season`, the
autocorrelation at an hour, a day and a week), once per series, like any other setting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import log_ndtr

DETECTOR_VERSION = "2"
DETECTORS = ("seasonal-mad", "windowed-gaussian", "likelihood")
DEFAULT_DETECTOR = "likelihood"
MAD_TO_SIGMA = 1.4826
RECENT_POINTS = 7
SEASON_CANDIDATES = (pd.Timedelta(hours=1), pd.Timedelta(days=1), pd.Timedelta(days=7))
MIN_SEASON_AUTOCORRELATION = 0.3
MIN_PEAK_OVER_HALF_SEASON = 0.1
SPREAD_FLOOR_OF_SD = 0.1
HALF_NORMAL_SD = float(np.sqrt(1.0 - 2.0 / np.pi))     # sd of |z| for a standard normal z


@dataclass(frozen=True)
class DetectorSettings:
    """Knobs of `detect`; the defaults suit daily review metrics."""

    detector: str = "seasonal-mad"       # generic_settings uses DEFAULT_DETECTOR
    season: pd.Timedelta | str | None = "auto"   # "auto": detect_season; None: no season (recent median)
    # "auto" found no cycle: review metrics still vary by weekday, and a recent median would take a two-week
    # rating drop for the new normal within four days; generic series (generic_settings) use none.
    fallback_season: pd.Timedelta | None = pd.Timedelta(days=7)
    seasons_back: int = 4                # K: how many past seasons vote for the expected value
    window: int = 56                     # points whose residuals give the spread / the history distribution
    short: int = 10                      # likelihood: points averaged into the current surprise
    min_history: int = 14                # earlier points needed before a point can be flagged
    false_alarm_rate: float = 3e-5       # tail probability under which a point is flagged (z = 4 one-sided)
    quiet_after: int = 0                 # after a point, only a higher score flags within this many points
    direction: str = "both"              # up | down | both
    counts: bool = False                 # Poisson floor on the spread
    unit_sd: float | None = None         # means: sd of one observation; spread >= unit_sd / sqrt(support)
    min_spread: float = 1e-6

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, not {self.detector!r}")
        if self.direction not in ("up", "down", "both"):
            raise ValueError(f"direction must be up, down or both, not {self.direction!r}")
        if not 0.0 < self.false_alarm_rate < 1.0:
            raise ValueError(f"false_alarm_rate must be in (0, 1), not {self.false_alarm_rate}")

    @property
    def threshold(self) -> float:
        """The score at which a point is flagged."""
        return float(-np.log10(self.false_alarm_rate))

    @property
    def name(self) -> str:
        return f"{self.detector}-{DETECTOR_VERSION}"


GENERIC_WINDOW = pd.Timedelta(days=2)


def generic_settings(timestamps: pd.Series, **overrides) -> DetectorSettings:
    """Settings for any metric series (`detect-anomalies`): the spread window covers two days of points (at
    least 56, at most 2,016), flags need half a window of history, one alarm per episode of 12 points, and a
    false-alarm rate of 1e-5 under the model (about 0.4 % of ordinary points on the NAB series, see the README);
    `overrides` win."""
    step = typical_step(pd.to_datetime(timestamps, utc=True))
    window = int(np.clip(GENERIC_WINDOW / step if step > pd.Timedelta(0) else 56, 56, 2016))
    defaults = dict(detector=DEFAULT_DETECTOR, fallback_season=None, window=window, min_history=window // 2,
                    quiet_after=12, false_alarm_rate=1e-5)
    return DetectorSettings(**{**defaults, **overrides})


def typical_step(times: pd.Series) -> pd.Timedelta:
    steps = times.sort_values().diff().dropna()
    return steps.median() if len(steps) else pd.Timedelta(days=1)


def detect_season(times: pd.Series, values: pd.Series) -> pd.Timedelta | None:
    """The candidate season (an hour, a day, a week) with the highest autocorrelation, if it reaches 0.3 and
    exceeds the autocorrelation at half the season by 0.1.

    The series is put on its typical step first (mean per step, gaps interpolated), and a candidate needs at
    least 4 steps per season and 3 seasons of data.
    """
    times = pd.to_datetime(times, utc=True)
    step = typical_step(times)
    if step <= pd.Timedelta(0):
        return None
    span = times.max() - times.min()
    if not any(season / step >= 4 and span >= 3 * season for season in SEASON_CANDIDATES):
        return None          # weekly series, or too short: nothing to resample for
    regular = (pd.Series(np.asarray(values, dtype=float), index=times).sort_index()
               .resample(step).mean().interpolate(limit_direction="both"))
    if len(regular) < 2 or not regular.std() > 0:     # constant: no cycle to find
        return None
    best, best_correlation = None, MIN_SEASON_AUTOCORRELATION
    for season in SEASON_CANDIDATES:
        lag = int(round(season / step))
        if lag < 4 or len(regular) < 3 * lag:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):    # a constant stretch has no correlation
            correlation = regular.autocorr(lag)
            # A smooth series correlates with itself an hour later without any hourly cycle: a season must
            # beat the correlation at half its length (a peak, not a slope).
            is_peak = correlation - regular.autocorr(lag // 2) >= MIN_PEAK_OVER_HALF_SEASON
        if np.isfinite(correlation) and is_peak and correlation >= best_correlation:
            best, best_correlation = season, correlation
    return best


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
    """Score every point of one series; returns the input columns plus expected, z, score, is_anomaly.

    `support_col` (with settings.unit_sd) names how many observations each value averages: a mean rating
    over two reviews may swing far without meaning anything.
    """
    settings = settings or DetectorSettings()
    frame = series[[time_col, value_col] + ([support_col] if support_col else [])].copy()
    frame[time_col] = pd.to_datetime(frame[time_col], utc=True)
    frame = frame.sort_values(time_col, kind="stable").reset_index(drop=True)
    values = frame[value_col].to_numpy(dtype=float)
    support = (np.clip(frame[support_col].to_numpy(dtype=float), 1.0, None) if support_col
               else np.ones(len(values)))
    if settings.detector == "windowed-gaussian":     # no season: nothing to detect
        expected, spread = _windowed_gaussian(values, settings)
    else:
        season = _season(frame[time_col], frame[value_col], settings)
        expected = _seasonal_expected(frame[time_col], values, season, settings.seasons_back)
        spread = _mad_spread(values, expected, support, settings)
    z = np.where(np.isnan(expected) | np.isnan(values), 0.0, (values - expected) / spread)
    watched = {"up": z, "down": -z, "both": np.abs(z)}[settings.direction]
    if settings.detector == "likelihood":
        score = _likelihood_surprise(np.clip(watched, 0.0, None), settings)
    else:
        score = _tail_surprise(watched, two_sided=settings.direction == "both")
    enough_history = np.arange(len(values)) >= settings.min_history
    score = np.where(enough_history, score, 0.0)
    is_anomaly = enough_history & (score >= settings.threshold)
    if settings.quiet_after > 0:
        previous_high = (pd.Series(score).rolling(settings.quiet_after, min_periods=1).max().shift(1)
                         .fillna(0.0).to_numpy())
        is_anomaly &= score > previous_high
    frame["expected"] = expected
    frame["z"] = z
    frame["score"] = score
    frame["is_anomaly"] = is_anomaly
    return frame


def _season(times: pd.Series, values: pd.Series, settings: DetectorSettings) -> pd.Timedelta | None:
    """The settings' season; for "auto" the detected one, else the fallback where the data is fine enough."""
    if not isinstance(settings.season, str):
        return settings.season
    season = detect_season(times, values)
    fallback = settings.fallback_season
    if season is None and fallback is not None and len(times) > 1 and typical_step(times) * 2 <= fallback:
        return fallback
    return season


def _seasonal_expected(timestamps: pd.Series, values: np.ndarray, season: pd.Timedelta | None,
                       seasons_back: int) -> np.ndarray:
    """Median of the same phase 1..K seasons back (>= 2 votes), else of the last few points."""
    recent = pd.Series(values).rolling(RECENT_POINTS, min_periods=2).median().shift(1).to_numpy()
    if season is None or not len(values):
        return recent
    times = timestamps.dt.tz_convert(None).to_numpy().astype("datetime64[ns]").astype(np.int64)
    steps = np.diff(times)
    step = np.int64(np.median(steps)) if len(steps) else np.int64(pd.Timedelta(days=1).value)
    # Irregular series: a same-phase neighbour may sit up to one typical step away.
    tolerance = np.int64(max(step, 1))
    lagged = np.column_stack([_same_phase_values(times, values, np.int64(season.value), k, tolerance)
                              for k in range(1, seasons_back + 1)])
    seasonal_votes = np.sum(~np.isnan(lagged), axis=1)
    seasonal = np.full(len(values), np.nan)
    has_votes = seasonal_votes >= 2
    seasonal[has_votes] = np.nanmedian(lagged[has_votes], axis=1)
    return np.where(np.isnan(seasonal), recent, seasonal)


def _mad_spread(values: np.ndarray, expected: np.ndarray, support: np.ndarray,
                settings: DetectorSettings) -> np.ndarray:
    residual = values - expected
    # An average over n observations has sd ~ 1/sqrt(n): residuals are put on a one-observation scale
    # before their MAD is taken, then scaled back for each point's own n.
    root_n = np.sqrt(support)
    past = dict(window=settings.window, min_periods=max(3, settings.window // 4))
    spread = pd.Series(np.abs(residual * root_n)).rolling(**past).median().shift(1).to_numpy() * MAD_TO_SIGMA
    own_sd = pd.Series(values).rolling(**past).std().shift(1).to_numpy()
    # The floor applies to a spread that exists: too little history must stay "no spread yet" (never flags).
    spread = np.where(np.isnan(spread), np.nan, np.fmax(spread, SPREAD_FLOOR_OF_SD * own_sd * root_n))
    if settings.unit_sd:
        spread = np.fmax(spread, settings.unit_sd)
    spread = spread / root_n
    if settings.counts:
        # Poisson sd plus one count of slack: a median of a few small counts runs low.
        spread = np.fmax(spread, np.sqrt(np.clip(expected, 1.0, None)) + 1.0)
    return np.fmax(np.nan_to_num(spread, nan=np.inf), settings.min_spread)


def _windowed_gaussian(values: np.ndarray, settings: DetectorSettings) -> tuple[np.ndarray, np.ndarray]:
    past = pd.Series(values).rolling(settings.window, min_periods=max(3, settings.window // 4))
    expected = past.mean().shift(1).to_numpy()
    spread = np.fmax(np.nan_to_num(past.std().shift(1).to_numpy(), nan=np.inf), settings.min_spread)
    return expected, spread


def _tail_surprise(watched: np.ndarray, two_sided: bool) -> np.ndarray:
    """-log10 of the normal tail beyond `watched` (both tails when two-sided), computed in log space so that
    z = 40 gives 349, not infinity."""
    log_tail = log_ndtr(-np.asarray(watched, dtype=float)) + (np.log(2.0) if two_sided else 0.0)
    return np.clip(-log_tail / np.log(10.0), 0.0, None)


def _likelihood_surprise(surprise: np.ndarray, settings: DetectorSettings) -> np.ndarray:
    """Tail of the mean |z| of the last `short` points under the distribution of that mean over the
    `window` points before them."""
    recent = pd.Series(surprise).rolling(settings.short, min_periods=1).mean()
    history = recent.shift(settings.short).rolling(settings.window, min_periods=max(3, settings.window // 4))
    # Floor: the sd of a mean of `short` independent |z| of a normal; a calm history must not make the
    # first ordinary wobble look like a one-in-a-million event.
    spread = np.fmax(np.nan_to_num(history.std().to_numpy(), nan=np.inf), HALF_NORMAL_SD / np.sqrt(settings.short))
    z = (recent.to_numpy() - history.mean().to_numpy()) / spread
    return _tail_surprise(np.nan_to_num(z, nan=0.0), two_sided=False)


def detect_many(frame: pd.DataFrame, entity_col: str | None,
                settings: DetectorSettings | Callable[[pd.Series], DetectorSettings] | None = None,
                time_col: str = "timestamp", value_col: str = "value") -> pd.DataFrame:
    """`detect` per entity (each entity is its own series). `settings` may be a function of the entity's
    timestamps (e.g. `generic_settings`), so each series gets windows sized to its own step."""
    def settings_of(series: pd.DataFrame) -> DetectorSettings | None:
        return settings(series[time_col]) if callable(settings) else settings

    if entity_col is None:
        return detect(frame, settings_of(frame), time_col, value_col)
    parts = []
    for entity, group in frame.groupby(entity_col, sort=True):
        scored = detect(group, settings_of(group), time_col, value_col)
        scored.insert(0, entity_col, entity)
        parts.append(scored)
    return pd.concat(parts, ignore_index=True) if parts else frame.assign(expected=[], z=[], score=[],
                                                                          is_anomaly=[])
