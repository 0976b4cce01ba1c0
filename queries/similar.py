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
        rows, scores = rows[0][keep][:k], scores[0][keep][:k]
    else:
        from udfs.encoder import SentenceEncoder

        rows, scores = index.search(SentenceEncoder(device=device).encode([text]), k)
        rows, scores = rows[0], scores[0]
    found = pd.DataFrame({"rank": np.arange(1, len(rows) + 1), "product_id": index.ids[rows[rows >= 0]],
                          "score": scores[rows >= 0].astype(float).round(4)})
    return found.merge(product_titles(lake), on="product_id", how="left")
