"""Saving and loading the scikit-learn text classifiers without pickle.

A pickle (or joblib) file runs code when it is loaded, so a model directory someone hands over with
`--sentiment-model PATH`, or a tampered lake, could run anything. These models are plain data: a vocabulary,
IDF weights, coefficients. They are written as a JSON description (gzip) plus NumPy arrays (`.npz`, read with
`allow_pickle=False`), and rebuilt from the estimators' own constructors. Supported: a Pipeline of a
FeatureUnion of TfidfVectorizers, a TfidfVectorizer or a DictVectorizer, then a LogisticRegression — what the
n-gram sentiment models and the aspect-polarity classifier are. Anything else is refused when saving.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = 1


class UnsupportedModel(TypeError):
    """The estimator has a part this format cannot describe as data."""


def _params(estimator) -> dict[str, Any]:
    params = {}
    for name, value in estimator.get_params(deep=False).items():
        if isinstance(value, type) and issubclass(value, np.generic):
            value = {"numpy_dtype": np.dtype(value).name}
        elif callable(value):
            raise UnsupportedModel(f"{type(estimator).__name__}.{name} is code ({value!r}), not data")
        elif isinstance(value, tuple):
            value = {"tuple": list(value)}
        params[name] = value
    json.dumps(params)   # anything else that is not plain data fails here, at save time
    return params


def _restore(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in params.items():
        if isinstance(value, dict) and set(value) == {"numpy_dtype"}:
            value = np.dtype(value["numpy_dtype"]).type
        elif isinstance(value, dict) and set(value) == {"tuple"}:
            value = tuple(value["tuple"])
        out[name] = value
    return out


def _terms(vocabulary: dict[str, int]) -> list[str]:
    terms = [""] * len(vocabulary)
    for term, index in vocabulary.items():
        terms[index] = term
    return terms


def _describe(estimator, key: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    if isinstance(estimator, Pipeline):
        return {"type": "pipeline", "steps": [[name, _describe(step, f"{key}{i}.", arrays)]
                                              for i, (name, step) in enumerate(estimator.steps)]}
    if isinstance(estimator, FeatureUnion):
        if estimator.transformer_weights or estimator.n_jobs not in (None, 1):
            raise UnsupportedModel("FeatureUnion with weights or jobs")
        return {"type": "union", "parts": [[name, _describe(part, f"{key}{i}.", arrays)]
                                           for i, (name, part) in enumerate(estimator.transformer_list)]}
    if isinstance(estimator, TfidfVectorizer):
        arrays[f"{key}idf"] = np.asarray(estimator.idf_)
        return {"type": "tfidf", "params": _params(estimator), "terms": _terms(estimator.vocabulary_)}
    if isinstance(estimator, DictVectorizer):
        return {"type": "dict", "params": _params(estimator), "terms": list(estimator.feature_names_)}
    if isinstance(estimator, LogisticRegression):
        classes = np.asarray(estimator.classes_)
        arrays[f"{key}coef"], arrays[f"{key}intercept"] = estimator.coef_, estimator.intercept_
        arrays[f"{key}classes"] = classes.astype(str) if classes.dtype == object else classes
        return {"type": "logistic", "params": _params(estimator)}
    raise UnsupportedModel(f"cannot save a {type(estimator).__name__} without pickle")


def _build(spec: dict[str, Any], key: str, arrays) -> Any:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    kind = spec["type"]
    if kind == "pipeline":
        return Pipeline([(name, _build(step, f"{key}{i}.", arrays)) for i, (name, step) in enumerate(spec["steps"])])
    if kind == "union":
        return FeatureUnion([(name, _build(part, f"{key}{i}.", arrays))
                             for i, (name, part) in enumerate(spec["parts"])])
    if kind == "tfidf":
        vectorizer = TfidfVectorizer(**_restore(spec["params"]))
        vectorizer.vocabulary_ = {term: i for i, term in enumerate(spec["terms"])}
        vectorizer.idf_ = arrays[f"{key}idf"]
        return vectorizer
    if kind == "dict":
        vectorizer = DictVectorizer(**_restore(spec["params"]))
        vectorizer.feature_names_ = list(spec["terms"])
        vectorizer.vocabulary_ = {term: i for i, term in enumerate(spec["terms"])}
        return vectorizer
    if kind == "logistic":
        head = LogisticRegression(**_restore(spec["params"]))
        head.coef_, head.intercept_ = arrays[f"{key}coef"], arrays[f"{key}intercept"]
        head.classes_ = arrays[f"{key}classes"]
        head.n_features_in_ = head.coef_.shape[1]
        return head
    raise UnsupportedModel(f"unknown part {kind!r} in a saved model")


def save_pipeline(estimator, directory: Path, stem: str) -> None:
    """Write `stem.json.gz` (structure, parameters, vocabularies) and `stem.npz` (weights) under directory."""
    arrays: dict[str, np.ndarray] = {}
    spec = {"format": FORMAT, "model": _describe(estimator, "", arrays)}
    with gzip.open(Path(directory) / f"{stem}.json.gz", "wt", encoding="utf-8") as handle:
        json.dump(spec, handle)
    np.savez_compressed(Path(directory) / f"{stem}.npz", **arrays)


def load_pipeline(directory: Path, stem: str):
    """The estimator saved by `save_pipeline`; no code is run from the files."""
    with gzip.open(Path(directory) / f"{stem}.json.gz", "rt", encoding="utf-8") as handle:
        spec = json.load(handle)
    if spec.get("format") != FORMAT:
        raise UnsupportedModel(f"{directory}: model file format {spec.get('format')!r}, expected {FORMAT}")
    with np.load(Path(directory) / f"{stem}.npz", allow_pickle=False) as arrays:
        return _build(spec["model"], "", {name: arrays[name] for name in arrays.files})
