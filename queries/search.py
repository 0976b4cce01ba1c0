"""Tag search over the lake's current tags (udfs.tag_search): `reviewlake search`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from queries.sql import open_table, product_titles
from reviewlake.errors import UserError
from reviewlake.model_store import ModelStore
from udfs.tag_search import TagSearch, TagVectors

TAGS = "gold.product_tags"


def open_search(lake: str | Path, device: str = "auto") -> TagSearch:
    """A TagSearch over the lake's current tags (no Spark): load once, then call .search(query, k)."""
    from udfs.encoder import SentenceEncoder

    store = ModelStore(Path(lake), "tags")
    if store.current() is None:
        raise UserError(f"no tags in {lake}; run the tags stage first (reviewlake run --stages tags)")
    tags = open_table(lake, TAGS).to_pandas(columns=["product_id", "tag", "weight", "tag_sentiment"])
    encoder = SentenceEncoder(device=device)
    return TagSearch(tags, TagVectors.load(store.path(store.current())), product_titles(lake), encoder.encode)


def search_products(lake: str | Path, query: str, k: int = 10) -> pd.DataFrame:
    """Products ranked by tag match and tag sentiment for `query` (see udfs.tag_search)."""
    try:
        return open_search(lake).search(query, k)
    except ValueError as error:
        raise UserError(str(error)) from None
