"""The Spark session factory: the only place a SparkSession is built.

Delta comes from delta-spark and the text layer from Spark NLP (both built for Spark 3.5 / Scala 2.12). Their
jars are resolved from Maven Central once (Spark's own Ivy resolution of `spark.jars.packages`, into
`<cache>/ivy`); the resolved jar list is then written to a manifest under `<cache>/jars/` and later sessions
pass those files as `spark.jars`, so no network is needed after the first resolution.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import version
from pathlib import Path

from pyspark.ml import PipelineModel
from pyspark.sql import SparkSession

from reviewlake.config import Config

SCALA_BINARY = "2.12"
LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")
# Spark NLP's native runtimes (TensorFlow, llama.cpp, OpenVINO) are not published on Maven Central; without
# them the rule-based and trainable-from-data annotators still run, the deep-learning ones do not.
SPARK_NLP_UNSERVED = tuple(f"com.johnsnowlabs.nlp:{name}_{SCALA_BINARY}"
                           for name in ("tensorflow-cpu", "jsl-llamacpp-cpu", "jsl-openvino-cpu"))


def jar_coordinates() -> list[str]:
    """Maven coordinates of the delta-spark and spark-nlp jars matching their installed Python packages."""
    return [f"io.delta:delta-spark_{SCALA_BINARY}:{version('delta-spark')}",
            f"com.johnsnowlabs.nlp:spark-nlp_{SCALA_BINARY}:{version('spark-nlp')}"]


def jar_manifest(config: Config) -> Path:
    """File listing the resolved jars for the current coordinates."""
    key = "_".join(c.replace(":", "-") for c in jar_coordinates())
    return config.cache_dir / "jars" / f"{key}.txt"


def cached_jars(config: Config) -> list[str] | None:
    """Resolved jar paths if every one of them is still on disk, else None."""
    manifest = jar_manifest(config)
    if not manifest.exists():
        return None
    jars = [line for line in manifest.read_text().splitlines() if line.strip()]
    return jars if jars and all(Path(j).exists() for j in jars) else None


def _running_under_spark_submit() -> bool:
    # spark-submit starts the JVM first and hands its port to Python; jars must come from its --jars then.
    return "PYSPARK_GATEWAY_PORT" in os.environ


def spark_conf(config: Config, app_name: str = "reviewlake") -> dict[str, str]:
    """Every setting the session is built with (also what a DAG passes to spark-submit)."""
    settings = config.spark
    conf = {
        "spark.app.name": app_name,
        "spark.master": settings.master,
        "spark.driver.memory": settings.driver_memory,
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "false",
        # Spark NLP's annotations serialise through Kryo; its pipelines are large objects.
        "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
        "spark.kryoserializer.buffer.max": "1000m",
        "spark.ui.enabled": str(settings.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{LOG4J_CONFIG}",
        # Small local tables: many tiny files cost more than they save.
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.databricks.delta.properties.defaults.enableDeletionVectors": "false",
        "spark.jars.ivy": str(config.cache_dir / "ivy"),
    }
    jars = cached_jars(config)
    if jars:
        conf["spark.jars"] = ",".join(jars)
    else:
        conf["spark.jars.packages"] = ",".join(jar_coordinates())
        conf["spark.jars.excludes"] = ",".join(SPARK_NLP_UNSERVED)
    conf.update(settings.conf)
    return conf


def get_spark(config: Config, app_name: str = "reviewlake") -> SparkSession:
    """Return the process's SparkSession, building it on first use."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder
    conf = spark_conf(config, app_name)
    # Python workers must use this interpreter (its venv has the UDFs' packages), not the PATH's python3.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if conf["spark.master"].startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if _running_under_spark_submit():
        # Master, jars and the application name (the DAG task's) are spark-submit's to set.
        conf = {k: v for k, v in conf.items() if not k.startswith(("spark.jars", "spark.master", "spark.app.name"))}
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    if "spark.jars.packages" in conf:
        _remember_resolved_jars(config, spark)
    return spark


def _remember_resolved_jars(config: Config, spark: SparkSession) -> None:
    resolved = spark.sparkContext.getConf().get("spark.jars", "")
    paths = [j.removeprefix("file://").removeprefix("file:") for j in resolved.split(",") if j]
    if paths and all(Path(p).exists() for p in paths):
        manifest = jar_manifest(config)
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text("\n".join(paths) + "\n")


def ensure_jars(config: Config) -> list[str]:
    """Resolve the Delta and Spark NLP jars into the cache if they are not there yet; return their paths."""
    jars = cached_jars(config)
    if jars:
        return jars
    spark = get_spark(config, "reviewlake-resolve-jars")
    spark.stop()
    jars = cached_jars(config)
    if not jars:
        raise RuntimeError(f"jar resolution for {jar_coordinates()} left no manifest at {jar_manifest(config)}")
    return jars


def load_spark_nlp_pipeline(path: Path | str) -> PipelineModel:
    """PipelineModel.load for a saved pipeline with Spark NLP stages (the fitted text layer, NLP sentiment)."""
    import sparknlp  # noqa: F401  (maps Spark NLP's Java package names to its Python classes)
    import sparknlp.annotator as annotator

    # spark-nlp 5.5.3 maps every annotator package but keyword extraction: without these two entries
    # PipelineModel.load cannot find YakeKeywordExtraction's Python class.
    for package in ("com.johnsnowlabs.nlp.annotators.keyword", "com.johnsnowlabs.nlp.annotators.keyword.yake"):
        sys.modules.setdefault(package, annotator)
    return PipelineModel.load(str(path))
