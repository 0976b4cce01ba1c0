"""Summarizer, tag miner and tag search cores on hand-written sentence rows of one product (no Spark).

The rows look like silver.review_sentences after the sentences stage: a sentence, the aspect terms proposed
for it (silver.sentence_aspects), its lexicon polarity, the review's date and tone. They are written here by
hand, not by the synthetic generator, so the expected tags are what a reader of these sentences would call
the aspects.
"""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from reviewlake.config import SummarySettings, TagSettings
from udfs.keyphrases import candidate_phrases, lemma, mention_pattern, product_nouns, product_tags
from udfs.sentences import usable, usable_sentences
from udfs.summarizer import summarize
from udfs.tag_search import TagSearch, TagVectors

# (sentence, proposed aspect terms, lexicon polarity): a kettle whose lid is praised and whose handle gets hot.
PRAISE = [
    ("The lid opens with one finger and closes tight.", ["lid"], 0.4),
    ("I love how the lid never drips when I pour.", ["lid"], 0.6),
    ("The lid seal is excellent and keeps it quiet.", ["lid", "excellent"], 0.7),
    ("Water boils in about three minutes, which is fast.", [], 0.3),
]
COMPLAINTS = [
    ("The handle gets far too hot to hold after boiling.", ["handle"], -0.5),
    ("Sadly the handle burned me twice this week.", ["handle"], -0.6),
    ("The handle smells bad when it heats up.", ["the handle"], -0.5),
]


def _rows(groups, start=date(2023, 1, 1), prefix="r") -> pd.DataFrame:
    rows = []
    for i in range(30):
        sentence, proposed, lexicon = groups[i % len(groups)]
        tone = 0.6 if lexicon > 0 else -0.6
        rows.append({"review_id": f"{prefix}{i}", "review_date": date.fromordinal(start.toordinal() + 7 * i),
                     "sentence": sentence, "aspect_terms": proposed, "lexicon_polarity": lexicon, "tone": tone})
    return pd.DataFrame(rows)


def _kettle(**kwargs) -> pd.DataFrame:
    return usable_sentences(_rows(PRAISE + COMPLAINTS, **kwargs))


@pytest.fixture(scope="module")
def encoder():
    from udfs.encoder import SentenceEncoder

    return SentenceEncoder(device="cpu")


def test_sentence_tools():
    assert not usable("Mail me at [EMAIL] for details.")
    assert not usable("Call +1 (555) 123-4567 if the motor breaks.")
    assert not usable("Great.")
    assert usable("The motor is great.")
    assert lemma("blades") == "blade" and lemma("batteries") == "battery" and lemma("glass") == "glass"
    assert mention_pattern("battery").search("the batteries died") and mention_pattern("blade").search("blades")


def test_usable_sentences_blend_the_lexicon_with_the_reviews_tone():
    rows = pd.DataFrame({"sentence": ["The lid is great and tight.", "Mail [EMAIL] for the lid.", "Great.",
                                      "The handle gets hot quickly."],
                         "lexicon_polarity": [0.5, 0.1, 0.9, None], "tone": [-1.0, 0.0, 1.0, None]})
    kept = usable_sentences(rows)
    assert kept["sentence"].tolist() == ["The lid is great and tight.", "The handle gets hot quickly."]
    assert kept["polarity"].iloc[0] == pytest.approx(0.7 * 0.5 + 0.3 * -1.0)
    assert kept["lexical_polarity"].iloc[0] == pytest.approx(0.5)
    # No stored polarity and no tone: the lexicon alone, computed here (VADER reads "hot quickly" as neutral).
    assert kept["polarity"].iloc[1] == pytest.approx(kept["lexical_polarity"].iloc[1])
    assert usable_sentences(rows.iloc[:0]).empty


def test_candidates_are_ranked_by_how_many_sentences_propose_them_and_judging_words_dropped():
    proposed = [["handle", "great"], ["handle", "lid"], ["lid", "the lid"], ["handle"], None, ["excellent"]]
    assert candidate_phrases(proposed, TagSettings()) == ["handle", "lid"]


def test_tags_are_the_discussed_parts_with_the_sign_of_what_is_said_about_them():
    tags = product_tags(_kettle(), TagSettings(), date(2023, 12, 31))
    assert set(tags["tag"]) == {"lid", "handle"}
    sign = dict(zip(tags["tag"], np.sign(tags["tag_sentiment"]), strict=True))
    assert sign == {"lid": 1.0, "handle": -1.0}
    by_tag = tags.set_index("tag")
    # 30 rows cycle through 7 sentences: the lid is in the first 3 of them (14 rows), the handle in the last 3
    # (12 rows).
    assert by_tag.loc["lid", "n_mentions"] == 14 and by_tag.loc["handle", "n_mentions"] == 12
    assert by_tag.loc["lid", "first_seen"] == date(2023, 1, 1)


def test_the_product_itself_is_no_tag():
    assert product_nouns("Acme Steel Kettles 2", "Kitchen & Dining") == {"kettle", "kitchen", "dining"}
    old_kettle = ("The old kettle took twice as long as this.", ["old kettle"], -0.2)
    sentences = usable_sentences(_rows(PRAISE + COMPLAINTS + [old_kettle]))
    # Without the product's name the phrase is a tag.
    assert "old kettle" in set(product_tags(sentences, TagSettings(), date(2023, 12, 31))["tag"])
    named = product_tags(sentences, TagSettings(), date(2023, 12, 31), product=product_nouns("Acme Kettle", None))
    assert set(named["tag"]) == {"lid", "handle"}


def test_trend_rises_for_an_aspect_mentioned_only_lately():
    old = _rows(PRAISE, start=date(2022, 1, 1))
    new = _rows(COMPLAINTS, start=date(2023, 9, 1), prefix="n")
    new["review_date"] = [date(2023, 12, 1) for _ in range(len(new))]
    tags = product_tags(usable_sentences(pd.concat([old, new])), TagSettings(), date(2023, 12, 25)).set_index("tag")
    assert tags.loc["handle", "trend"] == pytest.approx(1.0)      # every recent sentence, none before
    assert tags.loc["lid", "trend"] < 0


def test_summary_is_bounded_faithful_balanced_and_deterministic(encoder):
    rows = _rows(PRAISE + COMPLAINTS)
    rows.loc[0, "sentence"] = "Mail me at [EMAIL] if the lid disappoints you."
    sentences = usable_sentences(rows)
    result = summarize(sentences, encoder.encode, SummarySettings(), ("lid", "handle"))
    n_words = len(result.summary.split())
    assert 0 < n_words <= 80
    written = {s for s, _k, _p in PRAISE + COMPLAINTS}
    assert result.sentences_used and set(result.sentences_used) <= written
    assert "[EMAIL]" not in result.summary
    assert result.pros and set(result.pros) <= {s for s, _k, _p in PRAISE}
    assert result.cons and set(result.cons) <= {s for s, _k, _p in COMPLAINTS}
    assert any("lid" in s for s in result.sentences_used) and any("handle" in s for s in result.sentences_used)
    again = summarize(sentences.sample(frac=1, random_state=3).sort_index(), encoder.encode, SummarySettings(),
                      ("lid", "handle"))
    assert again.summary == result.summary and again.pros == result.pros


def test_tag_search_exact_and_semantic_ranked_by_sentiment(encoder):
    tags = pd.DataFrame({
        "product_id": ["quiet", "loud", "other", "quiet"],
        "tag": ["motor", "motor", "fabric", "noise level"],
        "weight": [0.3, 0.3, 0.4, 0.2],
        "tag_sentiment": [0.8, -0.7, 0.9, 0.6]})
    vectors = TagVectors.build(sorted(set(tags["tag"])), encoder.encode)
    engine = TagSearch(tags, vectors, pd.DataFrame(columns=["product_id", "title", "category"]), encoder.encode)
    found = engine.search("powerful motor", k=3)
    assert found["product_id"].tolist()[:2] == ["quiet", "loud"]      # exact match, better sentiment first
    assert "other" not in found["product_id"].tolist()
    assert engine.search("engine", k=3)["product_id"].iloc[0] == "quiet"   # semantic: engine ~ motor
    with pytest.raises(ValueError):
        engine.search("  ", k=3)
