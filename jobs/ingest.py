"""Ingest: input files -> bronze.reviews_raw (append-only, with lineage); --products -> silver.products.

Every line of every new file lands in bronze, malformed ones with `_corrupt_record` set. A file whose
content hash is already in bronze is skipped, so a replay adds zero rows.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from reviewlake.context import StageContext, StageResult
from reviewlake.errors import UserError
from reviewlake.inputs import resolve_inputs
from schemas import inputs
from schemas.tables import BRONZE_PARSED_COLUMNS

BRONZE = "bronze.reviews_raw"
SNIFF_LINES = 50
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class InputFile:
    """One file to ingest, with the format it will be parsed as and its content hash."""

    path: Path
    source_format: str
    sha256: str

    @property
    def source_file(self) -> str:
        return str(self.path)


def _open_text(path: Path) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")  # noqa: SIM115
    # utf-8-sig: a byte-order mark some exporters write would otherwise glue itself to the first column name.
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def check_readable(path: Path) -> None:
    """A gzip file must decompress to its end: Spark would otherwise fail halfway through a run (or read a
    truncated file's first part without a word), so a broken one is refused before anything is written."""
    if not path.name.endswith(".gz"):
        return
    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error) as error:
        raise UserError(f"{path} is not a readable gzip file ({error}); it looks truncated or corrupt, "
                        "so nothing was ingested") from None


def sniff_format(path: Path) -> str:
    """Guess the input format from the file name and its first records."""
    if not path.name.endswith(".gz"):
        with open(path, "rb") as handle:
            if handle.read(2) == GZIP_MAGIC:
                raise UserError(f"{path} is gzip-compressed but its name does not end in .gz; rename it")
    if path.name.lower().removesuffix(".gz").endswith(".csv"):
        return "csv"
    keys: set[str] = set()
    with _open_text(path) as handle:
        for _, line in zip(range(SNIFF_LINES), handle, strict=False):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                keys |= record.keys()
    if not keys:
        raise UserError(f"cannot tell the format of {path}: no JSON object in its first {SNIFF_LINES} lines "
                        "(use --format csv for CSV files without a .csv name)")
    for fmt in ("amazon2023", "amazon2014", "amazon2018"):
        if keys & inputs.SNIFF_KEYS[fmt]:
            return fmt
    if {"reviewerID", "asin"} <= keys:
        return "amazon2018"
    raise UserError(f"cannot tell the format of {path}: keys {sorted(keys)[:12]} match no known format; "
                    f"pass --format ({', '.join(inputs.FORMATS)})")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def csv_header(path: Path) -> list[str]:
    """Header of a CSV input; missing required columns are a user error."""
    with _open_text(path) as handle:
        header = next(csv.reader(handle), [])
    missing = [c for c in inputs.CSV_REQUIRED_COLUMNS if c not in header]
    if missing:
        raise UserError(f"{path}: CSV header lacks required column(s) {missing}; header is {header}")
    return header


def _line_numbers(frame: DataFrame) -> DataFrame:
    """Add 1-based `line_no` in file order without a round trip through Python.

    monotonically_increasing_id() is sequential within a partition; input_file_block_start() orders the
    blocks of a split file, so rank = offset of the block + position inside it.
    """
    tagged = frame.withColumn("_block", F.input_file_block_start()).withColumn(
        "_mid", F.monotonically_increasing_id())
    blocks = tagged.groupBy("_block").agg(F.count("*").alias("_n"), F.min("_mid").alias("_first")).collect()
    offsets, running = [], 0
    for block in sorted(blocks, key=lambda b: b["_block"]):
        offsets.append((block["_block"], block["_first"], running))
        running += block["_n"]
    spark = frame.sparkSession
    offset_frame = spark.createDataFrame(offsets, "_block long, _first long, _offset long")
    return (
        tagged.join(F.broadcast(offset_frame), "_block")
        .withColumn("line_no", F.col("_mid") - F.col("_first") + F.col("_offset") + 1)
        .drop("_block", "_mid", "_first", "_offset")
    )


def _parsed_columns(source: Column | None, mapping: dict[str, str]) -> list[Column]:
    """Bronze's parsed columns from a struct of source fields (null where the format has no such field)."""
    return [
        (source[mapping[name]] if name in mapping and source is not None else F.lit(None).cast("string"))
        .alias(name)
        for name in BRONZE_PARSED_COLUMNS
    ]


def parse_jsonl(lines: DataFrame, source_format: str) -> DataFrame:
    """(line_no, raw) -> bronze columns; a line that is not a JSON object keeps only `_corrupt_record`."""
    mapping = inputs.FORMATS[source_format]
    fields = sorted(set(mapping.values()))
    schema = StructType([StructField(f, StringType()) for f in fields]
                        + [StructField("_corrupt_record", StringType())])
    parsed = lines.withColumn("_parsed", F.from_json(
        "raw", schema, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record"}))
    corrupt = F.col("_parsed").isNull() | F.col("_parsed._corrupt_record").isNotNull()
    return parsed.select(
        "line_no", "raw",
        F.when(corrupt, F.col("raw")).alias("_corrupt_record"),
        *[F.when(~corrupt, c).alias(c_name) for c, c_name in
          zip(_parsed_columns(F.col("_parsed"), mapping), BRONZE_PARSED_COLUMNS, strict=True)],
    )


def read_jsonl(spark: SparkSession, path: Path) -> tuple[DataFrame, int]:
    """Non-blank lines of a JSONL file with their line numbers, and the count of blank lines skipped."""
    # The text source keeps undecodable bytes as they are; Parquet readers (delta-rs, pyarrow) then reject
    # the column, so invalid UTF-8 becomes U+FFFD here, once (decoding the bytes replaces malformed sequences).
    decoded = F.decode(F.col("value").cast("binary"), "UTF-8")
    # A byte-order mark before the first record would make that record unparseable.
    text = spark.read.text(str(path)).select(F.regexp_replace(decoded, "^\ufeff", "").alias("raw"))
    numbered = _line_numbers(text)
    blank = F.trim(F.col("raw")) == ""
    blank_lines = numbered.where(blank).count()
    return numbered.where(~blank), blank_lines


def read_csv(spark: SparkSession, path: Path) -> DataFrame:
    """CSV records (header excluded) as bronze columns; `line_no` is the record number."""
    header = csv_header(path)
    schema = StructType([StructField(c, StringType()) for c in header]
                        + [StructField("_corrupt_record", StringType())])
    records = (
        spark.read.schema(schema)
        .options(header=True, multiLine=True, escape='"', mode="PERMISSIVE",
                 columnNameOfCorruptRecord="_corrupt_record", enforceSchema=False)
        .csv(str(path))
    )
    records = _line_numbers(records)
    row = F.struct(*[F.col(f"`{c}`") for c in header])
    mapping = {k: v for k, v in inputs.CSV.items() if v in header}
    return records.select(
        "line_no",
        F.coalesce(F.col("_corrupt_record"), F.to_json(row)).alias("raw"),
        "_corrupt_record",
        *_parsed_columns(row, mapping),
    )


def bronze_rows(spark: SparkSession, source: InputFile) -> tuple[DataFrame, int]:
    """All rows one input file adds to bronze (lineage columns added in `run`), and blank lines skipped."""
    if source.source_format == "csv":
        return read_csv(spark, source.path), 0
    lines, blank = read_jsonl(spark, source.path)
    return parse_jsonl(lines, source.source_format), blank


def plan_inputs(specs: tuple[str, ...], input_format: str, ingested: dict[str, str]) -> tuple[
        list[InputFile], list[str]]:
    """Files to ingest, and human-readable reasons for the ones skipped as already ingested.

    `ingested` maps content hash -> source_file of what bronze already holds.
    """
    if input_format != "auto" and input_format not in inputs.FORMATS:
        raise UserError(f"unknown format {input_format!r}; use auto or one of {', '.join(inputs.FORMATS)}")
    paths = sorted({p for spec in specs for p in resolve_inputs(spec)})
    hashes_by_file = {file: sha for sha, file in ingested.items()}
    todo, skipped = [], []
    for path in paths:
        sha = file_sha256(path)
        if sha in ingested:
            skipped.append(f"{path} (already ingested as {ingested[sha]})")
            continue
        if str(path) in hashes_by_file:
            raise UserError(f"{path} was ingested before with different content; inputs are immutable, "
                            "so write new reviews to a new file")
        check_readable(path)
        fmt = sniff_format(path) if input_format == "auto" else input_format
        if fmt == "csv":
            csv_header(path)
        todo.append(InputFile(path, fmt, sha))
        ingested = {**ingested, sha: str(path)}
    return todo, skipped


def product_metadata(spark: SparkSession, path: str) -> DataFrame:
    """--products file (JSONL or CSV) -> silver.products columns."""
    files = resolve_inputs(path)
    is_csv = all(p.name.lower().removesuffix(".gz").endswith(".csv") for p in files)
    reader = spark.read.option("header", True) if is_csv else spark.read
    raw = (reader.csv if is_csv else reader.json)([str(p) for p in files])
    picked = {}
    for target, candidates in inputs.PRODUCT_METADATA.items():
        present = [c for c in candidates if c in raw.columns]
        if target == "product_id" and not present:
            raise UserError(f"product metadata {path} has none of the id columns {candidates}")
        picked[target] = F.coalesce(*[_as_text(raw, c) for c in present]) if present else F.lit(None)
    return raw.select(
        picked["product_id"].alias("product_id"), picked["title"].alias("title"),
        picked["category"].alias("category"), F.lit("metadata").alias("category_source"),
        F.current_timestamp().alias("updated_at"),
    ).where(F.col("product_id").isNotNull()).dropDuplicates(["product_id"])


def _as_text(frame: DataFrame, column: str) -> Column:
    """A metadata value as text; Amazon's nested category lists give their most specific entry."""
    dtype = frame.schema[column].dataType.simpleString()
    if dtype.startswith("array<array"):
        return F.element_at(F.element_at(F.col(column), -1), -1)
    if dtype.startswith("array"):
        return F.element_at(F.col(column), -1).cast("string")
    return F.col(column).cast("string")


def run(ctx: StageContext) -> StageResult:
    """Append new input files to bronze; load product metadata when given."""
    if not ctx.params.inputs:
        raise UserError("ingest needs --input PATH (a file, directory or glob)")
    spark = ctx.spark
    existing = ctx.read(BRONZE).select("file_sha256", "source_file").distinct().collect()
    todo, skipped = plan_inputs(ctx.params.inputs, ctx.params.input_format,
                                {r["file_sha256"]: r["source_file"] for r in existing})
    for reason in skipped:
        ctx.say(f"  skip {reason}")
    frames, blank_lines, per_file = [], 0, {}
    for source in todo:
        rows, blank = bronze_rows(spark, source)
        blank_lines += blank
        frames.append(rows.select(
            "*",
            F.lit(source.source_file).alias("source_file"), F.lit(source.source_format).alias("source_format"),
            F.lit(source.sha256).alias("file_sha256"), F.lit(ctx.run_id).alias("ingest_batch_id"),
            F.current_timestamp().alias("ingested_at"),
        ))
    rows_out = corrupt = 0
    if frames:
        batch = frames[0]
        for frame in frames[1:]:
            batch = batch.unionByName(frame)
        batch = batch.cache()
        counts = batch.groupBy("source_file").agg(
            F.count("*").alias("rows"), F.count("_corrupt_record").alias("corrupt")).collect()
        per_file = {r["source_file"]: {"rows": r["rows"], "corrupt": r["corrupt"]} for r in counts}
        for source in todo:
            stats = per_file.get(source.source_file, {"rows": 0, "corrupt": 0})
            ctx.say(f"  {source.path.name}: {stats['rows']:,} lines as {source.source_format} "
                    f"({stats['corrupt']:,} malformed, kept with _corrupt_record)")
        # One commit for all files: a crash leaves either all of them in bronze or none.
        ctx.append(BRONZE, batch)
        rows_out = sum(s["rows"] for s in per_file.values())
        corrupt = sum(s["corrupt"] for s in per_file.values())
        batch.unpersist()
    products = 0
    if ctx.params.products:
        metadata = product_metadata(spark, ctx.params.products)
        products = metadata.count()
        ctx.merge("silver.products", metadata, mode="upsert")
        ctx.say(f"  product metadata: {products:,} products")
    return StageResult(
        rows_in=rows_out + blank_lines, rows_out=rows_out,
        message=f"{len(todo)} file(s) ingested, {len(skipped)} skipped as already ingested",
        details={"files": per_file, "skipped": skipped, "blank_lines": blank_lines, "corrupt_lines": corrupt,
                 "product_metadata_rows": products},
    )


if __name__ == "__main__":
    from reviewlake.cli import run_stage_main

    run_stage_main("ingest")
