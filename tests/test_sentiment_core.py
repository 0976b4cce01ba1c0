"""Sentiment cores without Spark: labels, metrics, models, round-trips, batching."""

import numpy as np
import pytest

from udfs import sentiment as core
from udfs.encoder import SentenceEncoder, cuda_available, length_batches

POSITIVE = ["great product, works perfectly", "love it, excellent quality", "fantastic, highly recommend",
            "really impressive and solid", "excellent value, very happy"]
NEGATIVE = ["terrible, broke after a week", "awful quality, do not buy", "disappointing and poor",
            "waste of money, returning it", "cheap and flimsy, very bad"]
NEUTRAL = ["it is okay, nothing special", "average, does the job", "fine for the price, okay",
           "neither good nor bad, average", "okay product, it is fine"]
TEXTS = POSITIVE * 4 + NEGATIVE * 4 + NEUTRAL * 4
LABELS = [core.POSITIVE] * 20 + [core.NEGATIVE] * 20 + [core.NEUTRAL] * 20


@pytest.mark.parametrize(("rating", "label"), [(1, 0), (2.5, 0), (3, 1), (3.5, 2), (5, 2), (None, None),
                                               (float("nan"), None)])
def test_rating_to_label(rating, label):
    assert core.rating_to_label(rating) == label


def test_metrics_known_answers():
    perfect = np.eye(3)[[0, 1, 2, 2]]
    metrics = core.classification_metrics([0, 1, 2, 2], perfect)
    assert metrics["macro_f1"] == 1.0 and metrics["cohen_kappa"] == 1.0
    assert metrics["confusion.positive.positive"] == 2.0
    # The majority class on skewed data: high accuracy, macro-F1 of one class in three.
    majority = np.tile([0.0, 0.0, 1.0], (10, 1))
    skewed = core.classification_metrics([2] * 9 + [0], majority)
    assert skewed["accuracy"] == 0.9
    assert skewed["macro_f1"] == pytest.approx((2 * 0.9 / 1.9) / 3)
    assert skewed["balanced_accuracy"] == pytest.approx(0.5)
    assert skewed["cohen_kappa"] == 0.0


def test_predict_frame_contract():
    model = core.LexiconModel()
    frame = core.predict_frame(model, ["I love this, it is wonderful", "Horrible. I hate it.", None, ""])
    assert list(frame["label"]) == ["positive", "negative", "neutral", "neutral"]
    assert np.allclose(frame[["prob_negative", "prob_neutral", "prob_positive"]].sum(axis=1), 1)
    assert np.allclose(frame["score"], frame["prob_positive"] - frame["prob_negative"])
    assert frame["score"].between(-1, 1).all()
    assert len(core.predict_frame(model, [])) == 0


def _round_trip(model, tmp_path):
    directory = tmp_path / model.kind
    directory.mkdir()
    model.save(directory)
    (directory / "metadata.json").write_text(f'{{"kind": "{model.kind}", "version": "t"}}')
    return core.load_model(directory)


def test_ngram_model_learns_and_round_trips(tmp_path):
    model = core.NgramModel.train(TEXTS, LABELS)
    probe = ["excellent, love it", "awful, broke", "it is okay, average"]
    assert list(core.predict_frame(model, probe)["label"]) == ["positive", "negative", "neutral"]
    loaded = _round_trip(model, tmp_path)
    assert np.array_equal(loaded.predict_proba(probe), model.predict_proba(probe))


def test_ngram_model_with_a_missing_class_still_gives_three_columns():
    model = core.NgramModel.train(POSITIVE * 2 + NEGATIVE * 2, [2] * 10 + [0] * 10)
    probabilities = model.predict_proba(["great", "bad"])
    assert probabilities.shape == (2, 3) and np.all(probabilities[:, core.NEUTRAL] == 0)


def test_vivekn_positive_share_known_answers():
    shares = core.vivekn_positive_share(
        ["positive", "negative", "positive", "negative", "na", None, "positive"],
        ["0.9", "0.8", "1.0", "1.2345", "0.0", None, None])
    # A confidence above 1 is Spark NLP's cut-short "1.2345E-4": about 0, so a negative verdict reads 1 - 0.
    assert np.allclose(shares[:4], [0.9, 0.2, 1.0, 1.0])
    assert np.isnan(shares[4:]).all()


def test_vivekn_probabilities_switch_class_at_the_cuts():
    shares = np.array([0.0, 0.1, 0.39, 0.41, 0.69, 0.71, 0.95, 1.0, np.nan])
    probabilities = core.vivekn_probabilities(shares, (0.4, 0.7))
    frame = core.probability_frame(probabilities)
    assert list(frame["label"]) == ["negative", "negative", "negative", "neutral", "neutral", "positive",
                                    "positive", "positive", "neutral"]
    assert np.allclose(probabilities.sum(axis=1), 1)
    assert np.allclose(probabilities[[0, 7, 8]], [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    assert np.all(np.diff(frame["score"].iloc[:8]) > 0)  # the score rises with the positive share


def test_vivekn_cuts_find_the_neutral_band():
    shares = np.array([0.1, 0.2, 0.3, 0.5, 0.55, 0.8, 0.9])
    labels = [core.NEGATIVE] * 3 + [core.NEUTRAL] * 2 + [core.POSITIVE] * 2
    # Candidate cuts are midpoints between observed shares; only (0.4, 0.675) gets every row right.
    assert core.vivekn_cuts(labels, shares) == pytest.approx((0.4, 0.675))
    assert core.vivekn_cuts(labels, np.full(7, np.nan)) == core.VIVEKN_DEFAULT_CUTS


def test_encoder_embeddings_are_normalised_and_meaningful():
    encoder = SentenceEncoder("cpu")
    vectors = encoder.encode(["the battery lasts all day", "battery life is long", "the blender is loud", ""])
    assert vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1, atol=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    # Batching by length must not change results: one-at-a-time equals batched.
    single = np.vstack([encoder.encode([t]) for t in ["the battery lasts all day", "the blender is loud"]])
    assert np.allclose(single, vectors[[0, 2]], atol=1e-4)


def test_encoder_head_round_trip(tmp_path):
    model = core.EncoderHeadModel.train(TEXTS, LABELS, device="cpu")
    loaded = _round_trip(model, tmp_path)
    probe = ["excellent, love it", "awful, broke"]
    assert np.allclose(loaded.predict_proba(probe), model.predict_proba(probe), atol=1e-6)
    assert list(core.predict_frame(loaded, probe)["label"]) == ["positive", "negative"]


def test_finetuned_round_trip(tmp_path):
    from udfs.finetune import FineTunedModel

    model = FineTunedModel.train(TEXTS, LABELS, device="cpu", epochs=3, batch_size=16)
    loaded = _round_trip(model, tmp_path)   # on CPU: int8
    probe = ["excellent, love it", "awful, broke after a week", "it is okay, average"]
    assert loaded.precision == "int8"
    # Saved in fp16: the fp32 reload agrees to fp16 precision; int8 keeps every label and moves
    # probabilities by a few hundredths.
    fp32 = FineTunedModel.load(tmp_path / "finetuned", "cpu", int8_on_cpu=False)
    assert np.allclose(fp32.predict_proba(probe), model.predict_proba(probe), atol=2e-2)
    assert np.array_equal(loaded.predict_proba(probe).argmax(1), model.predict_proba(probe).argmax(1))
    assert np.abs(loaded.predict_proba(probe) - model.predict_proba(probe)).max() < 0.1
    assert (tmp_path / "finetuned" / "tokenizer.json").exists()
    # An int8 copy saves its source's weights.
    model.int8().save(tmp_path / "again")
    assert (tmp_path / "again" / "head.safetensors").exists()


def test_finetuning_stops_early_on_validation_and_is_reproducible():
    """Validation macro-F1 that cannot improve (already perfect after the first evaluation) stops training
    after `patience` evaluations; the same seed gives the same weights."""
    from udfs.finetune import FineTunedModel

    def train():
        return FineTunedModel.train(TEXTS, LABELS, device="cpu", epochs=20, batch_size=8, learning_rate=1e-4,
                                    validation=(TEXTS, LABELS), patience=2, evaluations_per_epoch=1)

    first, second = train(), train()
    summary = first.training_summary
    assert summary["stopped_by"].startswith("early stopping")
    assert summary["epochs"] < 20
    assert len(summary["validation_macro_f1"]) >= 3
    assert summary["best_validation_macro_f1"] == max(summary["validation_macro_f1"])
    assert np.array_equal(first.predict_proba(TEXTS), second.predict_proba(TEXTS))


def test_length_batches_known_answer():
    batches = length_batches([5, 1, 9, 2, 8], max_batch=2, max_tokens_per_batch=100)
    assert [b.tolist() for b in batches] == [[1, 3], [0, 4], [2]]
    by_tokens = length_batches([10, 10, 10, 10], max_batch=10, max_tokens_per_batch=25)
    assert [len(b) for b in by_tokens] == [2, 2]


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU")
def test_cuda_encoder_matches_cpu():
    texts = ["the battery lasts all day", "the blender is loud"]
    cpu = SentenceEncoder("cpu").encode(texts)
    gpu = SentenceEncoder("cuda").encode(texts)
    assert (cpu * gpu).sum(axis=1).min() > 0.98  # int8 CPU vs fp16 GPU: same direction


def test_base_probabilities_known_answers():
    """neutral = max(0, 1 - |p - 1/2| / band); the rest split p : 1 - p."""
    probabilities = core.base_probabilities(np.array([0.5, 0.6, 0.9, 0.05]), 0.2)
    assert np.allclose(probabilities, [[0, 1, 0], [0.5 * 0.4, 0.5, 0.5 * 0.6], [0.1, 0, 0.9], [0.95, 0, 0.05]])


def test_base_model_trains_on_polar_reviews_and_reads_the_undecided_as_neutral(tmp_path):
    model = core.BaseModel.train(POSITIVE * 2 + NEGATIVE * 2, [2] * 10 + [0] * 10, neutral_band=0.2)
    probe = ["excellent, love it", "awful, broke", "zzz qqq"]   # the last shares nothing with the training text
    assert list(core.predict_frame(model, probe)["label"]) == ["positive", "negative", "neutral"]
    loaded = _round_trip(model, tmp_path)
    assert loaded.neutral_band == 0.2
    assert np.array_equal(loaded.predict_proba(probe), model.predict_proba(probe))
    with pytest.raises(ValueError, match="negative and positive"):
        core.BaseModel.train(POSITIVE * 2, [2] * 10)


def test_distilled_model_learns_the_teachers_labels_of_unrated_text(tmp_path):
    """The student never sees a star: it is trained on what a teacher (here the n-gram model trained on the
    rated texts) says about texts, rated or not, and agrees with it on new ones."""
    teacher = core.NgramModel.train(TEXTS, LABELS)
    unrated = ["excellent kettle, love the quality", "awful, broke on day two", "okay, nothing special here",
               "fantastic, works perfectly", "poor and disappointing, do not buy"] * 4
    student = core.DistilledModel.distil(teacher, TEXTS + unrated)
    probe = ["excellent quality, love it", "terrible, broke after a day", "it is okay, average"]
    assert list(core.predict_frame(student, probe)["label"]) == list(core.predict_frame(teacher, probe)["label"])
    assert type(_round_trip(student, tmp_path)) is core.DistilledModel
