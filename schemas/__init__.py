"""StructTypes of every lake table (tables.py) and the mappings of supported input formats (inputs.py)."""
