"""Configuration: defaults, overridden by a TOML file (REVIEWLAKE_CONFIG), then by environment variables.

Read nowhere else: stages receive a `Config` through their `StageContext`.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from reviewlake.errors import UserError
from udfs.anomaly import DETECTORS
from udfs.keyphrases import TagSettings
from udfs.qa import QaSettings
from udfs.summarizer import SummarySettings


@dataclass(frozen=True)
class CleanRules:
    """Validation bounds applied by the clean stage."""

    min_review_year: int = 1995
    max_text_chars: int = 20_000
    max_title_chars: int = 1_000
    # Reviews stamped slightly ahead of the run date are clock skew, not fraud.
    future_tolerance_days: int = 1


@dataclass(frozen=True)
class SentimentSettings:
    """Training, selection and scoring of the sentiment stage."""

    tier: str = "auto"                   # fast | transformer | auto
    min_rated_reviews: int = 500         # below this: cold start
    cold_start: str = "base"             # base (the cached base model, VADER if none is built) | vader
    holdout_fraction: float = 0.2        # newest reviews held out (time split)
    eval_rows: int = 4_000               # holdout sample every candidate is scored on
    max_train_rows: int = 200_000        # n-gram model
    encoder_train_rows: int = 12_000     # frozen-encoder head (embedding on CPU is the cost)
    finetune_train_rows: int = 20_000     # with a GPU
    finetune_train_rows_cpu: int = 3_000  # without one: what converges in minutes on a few cores
    finetune_max_epochs: int = 4
    finetune_patience: int = 2           # validation evaluations (two per epoch) without gain before stopping
    finetune_validation_fraction: float = 0.1   # newest training rows: early stopping, never the holdout
    finetune_budget_s: float = 0.0       # optional wall-clock cap; 0: none (train to convergence)
    finetune_on_cpu: bool = True
    distil_rows: int = 50_000            # reviews (rated or not) the teacher labels for the distilled fast model
    distil_rows_cpu: int = 8_000         # without a GPU (the teacher's scoring is the cost)
    stage_budget_s: float = 600.0        # auto tier: scoring all reviews must fit in this
    retrain_growth: float = 0.2          # retrain when labelled reviews grew by this share


@dataclass(frozen=True)
class SentenceSettings:
    """[sentences]: the Spark NLP text layer and the sentence vectors."""

    max_sentence_chars: int = 1_000     # longer "sentences" (no punctuation at all) are cut by the detector
    keyphrase_max_words: int = 3
    keyphrases_per_review: int = 10
    embed_min_words: int = 4            # shorter or longer sentences stay in the table but get no vector
    embed_max_words: int = 40
    device: str = "auto"                # auto | cpu | cuda for the sentence encoder


@dataclass(frozen=True)
class RecommendSettings:
    """Implicit ALS with a small hyper-parameter search, and the fallback strategies (jobs/recommend.py)."""

    top_k: int = 20
    min_als_likes: int = 3               # fewer liked products: similar-items instead of ALS
    holdout_share: float = 0.2           # each user's newest interactions held out for evaluation
    min_user_interactions: int = 3       # users below this stay whole in training
    factors: tuple[int, ...] = (32, 64)  # the search grid (every combination is fitted once)
    regularization: tuple[float, ...] = (0.05, 0.5)
    alpha: tuple[float, ...] = (5.0, 20.0)
    iterations: int = 15
    device: str = "auto"                 # auto | cpu | gpu


@dataclass(frozen=True)
class SimilaritySettings:
    """Product vectors and the FAISS index (jobs/similarity.py)."""

    neighbours: int = 10
    reviews_per_product: int = 6         # newest texts embedded per product (the CPU encoder's cost)
    exact_max_products: int = 50_000     # up to this many products: exact IndexFlatIP
    approximate_index: str = "ivf"       # ivf | hnsw above exact_max_products
    min_recall_at_10: float = 0.95       # approximate index tuned until it reaches this against exact
    device: str = "auto"                 # auto | cpu | gpu


@dataclass(frozen=True)
class AnomalySettings:
    """The anomalies stage's detector (udfs.anomaly; bench/anomalies_real.py and bench/anomalies_eval.py
    compare them)."""

    detector: str = "seasonal-mad"       # seasonal-mad | windowed-gaussian | likelihood
    false_alarm_rate: float = 3e-5       # a period is flagged when its tail probability is below this

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise UserError(f"[anomalies] detector must be one of {', '.join(DETECTORS)}, not {self.detector!r}")
        if not 0.0 < self.false_alarm_rate < 1.0:
            raise UserError(f"[anomalies] false_alarm_rate must be in (0, 1), not {self.false_alarm_rate}")


@dataclass(frozen=True)
class SparkSettings:
    """How the one Spark session is built (see reviewlake.spark)."""

    master: str = "local[*]"
    driver_memory: str = "4g"
    shuffle_partitions: int = 8
    ui_enabled: bool = False
    conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    """Everything a run needs to know that is not an input path."""

    lake: Path = Path("lake")
    cache_dir: Path = Path.home() / ".cache" / "reviewlake"
    spark: SparkSettings = field(default_factory=SparkSettings)
    clean: CleanRules = field(default_factory=CleanRules)
    sentiment: SentimentSettings = field(default_factory=SentimentSettings)
    sentences: SentenceSettings = field(default_factory=SentenceSettings)
    summarize: SummarySettings = field(default_factory=SummarySettings)
    tags: TagSettings = field(default_factory=TagSettings)
    qa: QaSettings = field(default_factory=QaSettings)
    recommend: RecommendSettings = field(default_factory=RecommendSettings)
    similarity: SimilaritySettings = field(default_factory=SimilaritySettings)
    anomalies: AnomalySettings = field(default_factory=AnomalySettings)
    pii_salt: str | None = None

    def with_lake(self, lake: str | Path | None) -> Config:
        """Same config, another lake root (CLI --lake wins over everything)."""
        return self if lake is None else replace(self, lake=Path(lake))

    def resolved_pii_salt(self) -> str:
        """The salt for user-id pseudonymisation: configured, else one generated per lake and kept there.

        Kept under <lake>/ops/_secrets so re-runs map a user to the same pseudonym; never printed.
        """
        if self.pii_salt:
            return self.pii_salt
        salt_file = self.lake / "ops" / "_secrets" / "pii_salt"
        if not salt_file.exists():
            salt_file.parent.mkdir(parents=True, exist_ok=True)
            salt_file.write_text(secrets.token_hex(16))
            salt_file.chmod(0o600)
        return salt_file.read_text().strip()


def _section(cls: type, values: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise UserError(f"{where}: unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
    # TOML has arrays, the frozen settings hold tuples (hashable, immutable).
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def load_config(path: str | Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Build the config: defaults < TOML file (`path` or $REVIEWLAKE_CONFIG) < environment."""
    env = dict(os.environ if env is None else env)
    path = path or env.get("REVIEWLAKE_CONFIG")
    data: dict[str, Any] = {}
    if path:
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise UserError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as err:
            raise UserError(f"config file {path} is not valid TOML: {err}") from None

    spark_values = dict(data.pop("spark", {}))
    spark_values["conf"] = {str(k): str(v) for k, v in spark_values.get("conf", {}).items()}
    if "REVIEWLAKE_SPARK_MASTER" in env:
        spark_values["master"] = env["REVIEWLAKE_SPARK_MASTER"]
    if "REVIEWLAKE_SPARK_DRIVER_MEMORY" in env:
        spark_values["driver_memory"] = env["REVIEWLAKE_SPARK_DRIVER_MEMORY"]
    if env.get("REVIEWLAKE_SPARK_UI", "").lower() in {"1", "true", "yes"}:
        spark_values["ui_enabled"] = True
    for pair in filter(None, env.get("REVIEWLAKE_SPARK_CONF", "").split(",")):
        key, sep, value = pair.partition("=")
        if not sep:
            raise UserError(f"REVIEWLAKE_SPARK_CONF entries must be key=value, got {pair!r}")
        spark_values["conf"][key.strip()] = value.strip()

    sections = {name: dict(data.pop(name, {})) for name in ("clean", "sentiment", "sentences", "summarize", "tags",
                                                                 "qa", "recommend", "similarity",
                                                                 "anomalies")}
    top: dict[str, Any] = {k: data.pop(k) for k in ("lake", "cache_dir", "pii_salt") if k in data}
    if data:
        raise UserError(f"config: unknown section(s) {sorted(data)}")
    if "REVIEWLAKE_LAKE" in env:
        top["lake"] = env["REVIEWLAKE_LAKE"]
    if "REVIEWLAKE_CACHE" in env:
        top["cache_dir"] = env["REVIEWLAKE_CACHE"]
    if "REVIEWLAKE_PII_SALT" in env:
        top["pii_salt"] = env["REVIEWLAKE_PII_SALT"]
    for key in ("lake", "cache_dir"):
        if key in top:
            top[key] = Path(top[key]).expanduser()
    return Config(
        spark=_section(SparkSettings, spark_values, "[spark]"),
        clean=_section(CleanRules, sections["clean"], "[clean]"),
        sentiment=_section(SentimentSettings, sections["sentiment"], "[sentiment]"),
        sentences=_section(SentenceSettings, sections["sentences"], "[sentences]"),
        summarize=_section(SummarySettings, sections["summarize"], "[summarize]"),
        tags=_section(TagSettings, sections["tags"], "[tags]"),
        qa=_section(QaSettings, sections["qa"], "[qa]"),
        recommend=_section(RecommendSettings, sections["recommend"], "[recommend]"),
        anomalies=_section(AnomalySettings, sections["anomalies"], "[anomalies]"),
        similarity=_section(SimilaritySettings, sections["similarity"], "[similarity]"),
        **top,
    )
