"""Text and model code the jobs call: plain-Python cores, testable without Spark, and their Spark UDFs."""
