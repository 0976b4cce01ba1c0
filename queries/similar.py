"""Nearest products from the saved FAISS index (udfs.similarity_index), by product id or by free text:
`reviewlake similar`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from queries.sql import product_titles
from reviewlake.errors import UserError
from reviewlake.model_store import ModelStore
from udfs.similarity_index import ProductIndex


def similar_products(lake: str | Path, product_id: str | None = None, text: str | None = None, k: int = 10,
                     device: str = "auto") -> pd.DataFrame:
    """Nearest products to a product id or to free text, from the saved index (no Spark): rank, product_id,
    score, title, category."""
    if (product_id is None) == (text is None):
        raise UserError("give either a product id or --text, not both or neither")
    store = ModelStore(Path(lake), "similarity")
    if store.current() is None:
        raise UserError(f"no similarity index in {lake}; run the similarity stage first "
                        "(reviewlake run --stages similarity)")
    index = ProductIndex.load(store.path(store.current()), device)
    if product_id is not None:
        row = index.row_of(product_id)
        if row is None:
            raise UserError(f"product {product_id!r} is not in the similarity index ({len(index.ids):,} products)")
        rows, scores = index.search(index.vectors[row:row + 1], k + 1)
        keep = rows[0] != row
        found = neighbours(index, rows[0][keep][:k], scores[0][keep][:k])
    else:
        from udfs.encoder import SentenceEncoder

        found = text_neighbours(index, SentenceEncoder(device=device).encode, text, k)
    return found.merge(product_titles(lake), on="product_id", how="left")


def neighbours(index: ProductIndex, rows: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """rank, product_id, score of one query's index hits (rows of -1, no hit, left out)."""
    hit = rows >= 0
    return pd.DataFrame({"rank": np.arange(1, int(hit.sum()) + 1), "product_id": index.ids[rows[hit]],
                         "score": scores[hit].astype(float).round(4)})


def text_neighbours(index: ProductIndex, embed, text: str, k: int) -> pd.DataFrame:
    """The k products nearest to free text (embedded with `embed`), as `neighbours`."""
    rows, scores = index.search(embed([text]), k)
    return neighbours(index, rows[0], scores[0])
