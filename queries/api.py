"""`reviewlake serve`: a read-only HTTP API over the gold tables and saved indexes, with an explorer page.

Every request reads one `Snapshot` (queries.snapshot): the tables at the versions pinned when it was loaded.
A background thread swaps in a new snapshot after a pipeline run, without a restart. The read-side functions
are the CLI's (queries.products, udfs.tag_search through queries.search, queries.ask).
"""

from __future__ import annotations

import asyncio
import json
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, Response

from queries.products import known_product, product_card, records, similar_of, user_recommendations, with_titles
from queries.similar import text_neighbours
from queries.snapshot import Snapshot, SnapshotHolder
from reviewlake.errors import NotBuiltYet, NotFound, UserError
from reviewlake.model_store import ModelStore

EXPLORER = Path(__file__).parent / "templates" / "explorer.html"
K = Annotated[int, Query(ge=1, le=100, description="How many results")]
ProductId = Annotated[str, PathParam(min_length=1, max_length=64, description="A product_id of silver.products")]


class Engines:
    """What several snapshots share: the sentence encoder, loaded on first use (about 2 s)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self._encoder = None
        self._lock = threading.Lock()

    def encoder(self):
        with self._lock:
            if self._encoder is None:
                from udfs.encoder import SentenceEncoder

                self._encoder = SentenceEncoder(device=self.device)
            return self._encoder


def _model_path(snapshot: Snapshot, model: str, stage: str) -> Path:
    version = snapshot.versions.get(f"models/{model}")
    if version is None:
        raise NotBuiltYet(f"no {model} model in the lake yet: run the {stage} stage")
    return ModelStore(snapshot.lake, model).path(str(version))


REQUEST_TIMEOUT_S = 30.0   # generous: the first question of a process loads the encoder
MAX_URL_BYTES = 4096


def _carries_body(request: Request) -> bool:
    """Whether a request announces a body: a chunked stream, or a Content-Length other than 0 (unparseable
    counts as a body). Every route is GET, so any body is refused unread."""
    if "chunked" in request.headers.get("transfer-encoding", "").lower():
        return True
    length = request.headers.get("content-length", "0").strip() or "0"
    return not (length.isdigit() and int(length) == 0)


def create_app(lake: str | Path, refresh_seconds: float = 5.0, device: str = "auto",
               request_timeout_s: float = REQUEST_TIMEOUT_S) -> FastAPI:
    """The API over `lake`; the snapshot is loaded here (a clear error if the lake has no served table).

    Limits: a URL (path + query) over MAX_URL_BYTES is refused (414) and a request carrying a body (declared
    length or chunked) 413, both before any work; a request that has no answer after `request_timeout_s` gets
    504, so a slow question cannot hold a client forever."""
    holder = SnapshotHolder(lake, refresh_seconds)
    if not holder.snapshot.tables:
        raise UserError(f"nothing to serve in {lake}: run the pipeline first (reviewlake run or reviewlake demo)")
    engines = Engines(device)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        holder.start()
        yield
        holder.stop()

    app = FastAPI(title="reviewlake product API", version="1", lifespan=lifespan,
                  description="Read-only: product cards, recommendations, similar products, tag and text search "
                              "and product questions, from the lake's gold tables. Every response carries the "
                              "table versions it was read from.")
    app.state.holder = holder

    @app.middleware("http")
    async def limits(request: Request, call_next):
        if len(request.url.path) + len(request.url.query) > MAX_URL_BYTES:
            return JSONResponse({"detail": f"request URL longer than {MAX_URL_BYTES} bytes"}, status_code=414)
        if _carries_body(request):
            return JSONResponse({"detail": "this API is read-only: requests carry no body"}, status_code=413)
        try:
            return await asyncio.wait_for(call_next(request), request_timeout_s)
        except TimeoutError:
            return JSONResponse({"detail": f"no answer within {request_timeout_s:g} s"}, status_code=504)

    @app.exception_handler(NotFound)
    async def not_found(_request: Request, error: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=404)

    @app.exception_handler(NotBuiltYet)
    async def unavailable(_request: Request, error: NotBuiltYet) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=503)

    @app.exception_handler(UserError)
    async def bad_request(_request: Request, error: UserError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=422)

    @app.get("/health", summary="Served table versions and when they were loaded")
    def health() -> dict[str, Any]:
        snapshot = holder.snapshot
        return {"status": "ok", "lake": str(snapshot.lake), "versions": snapshot.versions,
                "loaded_at": snapshot.loaded_at, "load_seconds": round(snapshot.load_seconds, 3),
                "swaps": holder.swaps, "products": len(snapshot.tables.get("silver.products", []))}

    def cached_json(snapshot: Snapshot, key: tuple, build) -> Response:
        """A read-only snapshot answers the same question the same way: keep the encoded response."""
        body = snapshot.responses.get(key)
        if body is None:
            body = json.dumps(build(), default=str).encode()
            snapshot.responses[key] = body
        return Response(body, media_type="application/json")

    @app.get("/products/{product_id}", summary="Product card")
    async def product(product_id: ProductId) -> Response:
        """Rating and sentiment mix, summary, pros/cons, tags with sentiment, FAQ answers with evidence,
        similar products, flagged anomalies and the review-trend cluster."""
        snapshot = holder.snapshot
        return cached_json(snapshot, ("card", product_id), lambda: product_card(snapshot, product_id))

    @app.get("/products/{product_id}/similar", summary="Nearest products (precomputed)")
    async def similar(product_id: ProductId, k: K = 10) -> Response:
        snapshot = holder.snapshot
        return cached_json(snapshot, ("similar", product_id, k), lambda: {
            "product_id": product_id, "similar": similar_of(snapshot, product_id, k), "versions": snapshot.versions})

    @app.get("/products/{product_id}/ask", summary="Answer a question from the product's reviews")
    def ask(product_id: ProductId,
            q: Annotated[str, Query(min_length=2, max_length=300, description="The question")],
            k: Annotated[int, Query(ge=1, le=20, description="Evidence sentences")] = 5) -> dict[str, Any]:
        """The `reviewlake ask` JSON contract (README, Product questions)."""
        snapshot = holder.snapshot
        known_product(snapshot, product_id)

        def build():
            from queries.ask import LakeAnswerer

            return LakeAnswerer(snapshot.lake, versions=snapshot.versions, encoder=engines.encoder())

        answerer = snapshot.engine("answerer", build)
        with snapshot.answer_lock:   # the answerer keeps one DuckDB connection and a product cache
            return {**answerer.ask(product_id, q, k), "versions": snapshot.versions}

    @app.get("/users/{user_id}/recommendations", summary="A user's recommended products")
    async def recommendations(user_id: Annotated[str, PathParam(min_length=1, max_length=64)],
                              k: K = 10) -> Response:
        snapshot = holder.snapshot
        return cached_json(snapshot, ("recommendations", user_id, k),
                           lambda: user_recommendations(snapshot, user_id, k))

    @app.get("/search", summary="Products by tag (exact and semantic) and tag sentiment")
    def search(q: Annotated[str, Query(min_length=2, max_length=200, description="e.g. 'quiet motor'")],
               k: K = 10) -> dict[str, Any]:
        snapshot = holder.snapshot
        if not snapshot.has("gold.product_tags"):
            raise NotBuiltYet("no tags yet: run the tags stage")

        def build():
            from udfs.tag_search import TagSearch, TagVectors

            tags = snapshot.tables["gold.product_tags"][["product_id", "tag", "weight", "tag_sentiment"]]
            titles = snapshot.tables.get("silver.products")
            return TagSearch(tags, TagVectors.load(_model_path(snapshot, "tags", "tags")), titles,
                             engines.encoder().encode)

        engine = snapshot.engine("tag_search", build)
        try:
            found = engine.search(q, k)
        except ValueError as error:
            raise UserError(str(error)) from None
        return {"query": q, "results": records(found), "versions": snapshot.versions}

    @app.get("/similar", summary="Products whose reviews read like a free text (FAISS index)")
    def similar_text(text: Annotated[str, Query(min_length=2, max_length=300, description="e.g. 'quiet fan'")],
                     k: K = 10) -> dict[str, Any]:
        snapshot = holder.snapshot

        def build():
            from udfs.similarity_index import ProductIndex

            return ProductIndex.load(_model_path(snapshot, "similarity", "similarity"), device)

        index = snapshot.engine("product_index", build)
        found = with_titles(snapshot, text_neighbours(index, engines.encoder().encode, text, k), "product_id")
        return {"text": text, "results": found, "versions": snapshot.versions}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def explorer() -> str:
        from jinja2 import Template

        snapshot = holder.snapshot
        return Template(EXPLORER.read_text()).render(
            lake=snapshot.lake.name, products=len(snapshot.tables.get("silver.products", [])),
            versions=snapshot.versions)

    return app

