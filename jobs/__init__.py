"""One module per Spark job: a pure `transform` on DataFrames plus a thin `run(ctx)` doing the I/O."""
