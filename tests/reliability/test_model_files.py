"""Models are saved as data and loaded without pickle: the round trip gives scikit-learn's own probabilities,
the files hold no pickle, and a pickled model directory from an earlier version is refused without running it."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from udfs import sentiment as core
from udfs.aspect_sentiment import AspectSentiment
from udfs.model_files import UnsupportedModel, save_pipeline

TEXTS = ["great kettle, boils fast", "broke after a week, awful", "it is fine, nothing special",
         "love the quiet motor", "the lid leaks, terrible", "average, does the job"] * 4
LABELS = [2, 0, 1, 2, 0, 1] * 4
UNSEEN = ["quiet but the lid broke", "nothing special about the motor", "zzz unseen words"]


def _assert_no_pickle(directory: Path) -> None:
    for path in directory.iterdir():
        if path.suffix == ".npz":
            with zipfile.ZipFile(path) as archive:
                assert all(name.endswith(".npy") for name in archive.namelist())
            with np.load(path, allow_pickle=False) as arrays:   # raises on an object (pickled) array
                [arrays[name] for name in arrays.files]
        else:
            assert not path.read_bytes().startswith(b"\x80"), f"{path.name} starts like a pickle"


def test_an_ngram_model_round_trips_without_pickle(tmp_path):
    model = core.NgramModel.train(TEXTS, LABELS)
    model.save(tmp_path)
    _assert_no_pickle(tmp_path)
    loaded = core.NgramModel.load(tmp_path)
    np.testing.assert_array_equal(loaded.pipeline.predict_proba(UNSEEN), model.pipeline.predict_proba(UNSEEN))


def test_the_aspect_polarity_classifier_round_trips_without_pickle(tmp_path):
    features = [{"w=quiet": 1.0, "tone": 0.5}, {"w=leaks": 1.0, "tone": -0.6}, {"w=lid": 1.0, "tone": 0.0}] * 4
    classes = ["POS", "NEG", "NEU"] * 4
    model = AspectSentiment.fit(features, classes)
    model.save(tmp_path)
    _assert_no_pickle(tmp_path)
    loaded = AspectSentiment.load(tmp_path)
    probe = [{"w=quiet": 1.0}, {"tone": -1.0, "w=unknown": 1.0}]
    np.testing.assert_array_equal(loaded.probabilities(probe), model.probabilities(probe))
    assert loaded.predict(probe) == model.predict(probe)


class _Payload:
    """What a hostile pickle does when loaded: here, leave a file behind."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickled_model_directory_is_refused_without_being_unpickled(tmp_path):
    marker = tmp_path / "the-pickle-ran"
    model_dir = tmp_path / "old-model"
    model_dir.mkdir()
    (model_dir / core.LEGACY_PICKLE).write_bytes(pickle.dumps(_Payload(marker)))
    (model_dir / "metadata.json").write_text(json.dumps({"kind": "ngram", "version": "ngram-old"}))
    with pytest.raises(core.PickledModel, match="pickle"):
        core.load_model(model_dir)
    assert not marker.exists()
    # The payload is real: unpickling it would have left the marker.
    pickle.loads((model_dir / core.LEGACY_PICKLE).read_bytes())
    assert marker.exists()


def test_an_estimator_holding_code_is_refused_at_save_time(tmp_path):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    with_code = make_pipeline(TfidfVectorizer(tokenizer=str.split, token_pattern=None), LogisticRegression())
    with_code.fit(TEXTS, LABELS)
    with pytest.raises(UnsupportedModel, match="code"):
        save_pipeline(with_code, tmp_path, "model")
