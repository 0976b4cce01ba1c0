"""reviewlake: batch review-intelligence lakehouse (Spark jobs over Delta tables)."""

__version__ = "0.1.0"
