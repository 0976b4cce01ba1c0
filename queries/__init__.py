"""The lake's read side: what `reviewlake sql/tables/search/similar/ask` (and any service) call. No Spark
session, nothing from jobs/: Delta tables are read through delta-rs and DuckDB, models from the lake's model
store."""
