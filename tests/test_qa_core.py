"""Product questions (udfs.qa, no Spark) on hand-written reviews: every question type, clarification,
follow-ups, the posterior leaning, and the question-type classifier on the labelled set in bench/data."""

import csv
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from udfs.qa import (
    Answerer,
    ProductReviews,
    QuestionClassifier,
    leaning,
    question_options,
    rule_type,
)
from udfs.sentences import usable_sentences

LABELLED = Path(__file__).resolve().parents[1] / "bench" / "data" / "qa_questions.tsv"

# (rating, text): one review per line of a pair of travel headphones.
REVIEWS = [
    (5, "The battery life is excellent, easily ten hours on a charge."),
    (5, "Battery life is great and lasts about 8 hours of music."),
    (2, "The battery life is poor, mine died after 4 hours."),
    (5, "The ear cushions are comfortable even on long flights."),
    (2, "The ear cushions hurt my ears after an hour."),
    (5, "Great for travel, I take them on every flight."),
    (4, "I mostly wear them at home and they are fine for home use."),
    (5, "Perfect for travel because they fold flat into the bag."),
    (1, "The hinge cracked within a month, awful build and the case is flimsy."),
    (1, "The hinge broke after two weeks of normal use."),
    (5, "The sound quality is superb with deep bass."),
    (5, "Sound quality is crisp and clear at any volume."),
    (4, "The noise cancelling blocks out engine hum nicely."),
]
ASPECTS = ["battery life", "ear cushions", "sound quality", "hinge", "noise cancelling", "case", "noise level",
           "microphone"]


def _product(aspects=ASPECTS, facts=None) -> ProductReviews:
    rows = pd.DataFrame([{"review_id": f"r{i}", "sentence_idx": 0, "sentence": text, "lexicon_polarity": None,
                          "tone": (rating - 3) / 2, "review_date": date(2024, 1, 1) + timedelta(days=i),
                          "aspect_terms": None, "aspect_polarity": None}
                         for i, (rating, text) in enumerate(REVIEWS)])
    return ProductReviews("P1", "Sora Travel Headphones", "Headphones", usable_sentences(rows).reset_index(drop=True),
                          aspects, len(REVIEWS), frozenset({"headphone"}), facts or {})


@pytest.fixture(scope="module")
def answerer():
    from udfs.encoder import SentenceEncoder

    encode = SentenceEncoder(device="cpu").encode
    return Answerer(QuestionClassifier.load(encode), encode)


def test_options_are_read_from_the_question():
    assert question_options("Is it better for travel or for home?") == ["travel", "home"]
    assert question_options("does it run on AA or AAA batteries?") == ["AA", "AAA"]
    assert question_options("good for coffee, tea or smoothies?") == ["coffee", "tea", "smoothies"]
    assert question_options("does it fold flat or not?") == []
    assert question_options("does it fold flat?") == []
    assert rule_type("Does it fold flat?") == "yes_no"
    assert rule_type("how long does it last") == "open"
    assert rule_type("travel or home") == "choice"


def test_leaning_is_the_most_probable_answer_under_the_posterior():
    said, confidence = leaning(0, 0, 0, 100)
    assert said == "not discussed" and 0.8 < confidence < 0.95   # P(rate < 2 %) after 0 of 100: 1 - 0.98^101
    assert leaning(20, 1, 21, 100)[0] == "yes" and leaning(20, 1, 21, 100)[1] > 0.95
    assert leaning(1, 20, 21, 100)[0] == "no"
    assert leaning(10, 10, 20, 100)[0] == "mixed"
    assert leaning(2, 0, 2, 100)[1] < leaning(20, 0, 20, 100)[1]   # fewer reviews, less sure


def test_yes_no_counts_reviews_per_side_with_dated_evidence(answerer):
    product = _product()
    sound = answerer.answer(product, "Is the sound quality good?")
    assert (sound.question_type, sound.aspect, sound.answer) == ("yes_no", "sound quality", "yes")
    assert sound.support["yes"] == 2 and sound.support["no"] == 0
    assert {e["review_id"] for e in sound.evidence} == {"r10", "r11"}
    assert all(e["stance"] == "yes" and e["review_date"].startswith("2024-01") for e in sound.evidence)
    hinge = answerer.answer(product, "is the hinge sturdy?")
    assert (hinge.aspect, hinge.answer, hinge.support["no"]) == ("hinge", "no", 2)
    battery = answerer.answer(product, "is the battery life good?")
    assert (battery.answer, battery.support["yes"], battery.support["no"]) == ("mixed", 2, 1)
    absent = answerer.answer(product, "is the microphone any good?")
    assert (absent.aspect, absent.answer, absent.evidence) == ("microphone", "not discussed", [])


def test_a_question_about_something_bad_counts_complaints_as_yes(answerer):
    answer = answerer.answer(_product(), "does the hinge have problems?")
    assert (answer.aspect, answer.answer, answer.support["yes"]) == ("hinge", "yes", 2)


def test_choice_picks_the_option_most_reviews_back(answerer):
    answer = answerer.answer(_product(), "is it better for travel or for home?")
    assert answer.question_type == "choice" and answer.options == ["travel", "home"]
    assert answer.answer == "travel"
    assert answer.support == {"travel": {"for": 2, "against": 0}, "home": {"for": 1, "against": 0}}
    assert answer.evidence[0]["review_id"] in {"r5", "r7"}


def test_open_question_returns_spans_and_surfaces_durations(answerer):
    answer = answerer.answer(_product(), "how long does the battery last?")
    assert answer.question_type == "open" and answer.aspect == "battery life"
    assert {v["value"] for v in answer.values} == {"ten hours", "8 hours", "4 hours"}
    assert {e["review_id"] for e in answer.evidence[:3]} == {"r0", "r1", "r2"}
    assert "battery" in answer.answer.lower()


def test_knowledge_questions_read_the_gold_facts(answerer):
    facts = {"n_reviews": 13, "avg_rating": 3.77, "share_positive": 0.69, "share_neutral": 0.0,
             "share_negative": 0.31, "summary": "Great sound, weak hinge.", "pros": [], "cons": [],
             "tags": [{"tag": "sound quality", "weight": 2.0, "tag_sentiment": 0.8, "n_mentions": 2},
                      {"tag": "hinge", "weight": 2.0, "tag_sentiment": -0.7, "n_mentions": 2},
                      {"tag": "battery life", "weight": 3.0, "tag_sentiment": 0.2, "n_mentions": 3}],
             "similar": [{"product_id": "P2", "score": 0.9, "title": "Lumo Air Headphones"}]}
    product = _product(facts=facts)
    complaints = answerer.answer(product, "What do people complain about most?")
    assert (complaints.question_type, complaints.intent, complaints.answer) == ("knowledge", "complaints", "hinge")
    assert complaints.evidence[0]["review_id"] in {"r8", "r9"}
    rating = answerer.answer(product, "what's the average rating?")
    assert rating.intent == "rating" and "3.77" in rating.answer
    similar = answerer.answer(product, "any alternatives to this one?")
    assert similar.intent == "similar" and "Lumo Air Headphones" in similar.answer


def test_an_ambiguous_or_missing_aspect_asks_back(answerer):
    noise = answerer.answer(_product(), "is the noise good?")
    assert noise.question_type == "clarification"
    assert set(noise.candidates) == {"noise cancelling", "noise level"}
    vague = answerer.answer(_product(), "how is it?")
    assert vague.question_type == "clarification" and "battery life" in vague.candidates


def test_a_follow_up_reuses_the_previous_turn(answerer):
    product = _product()
    first = answerer.answer(product, "is the sound quality good?")
    previous = {"product_id": "P1", "question": first.question, "question_type": first.question_type,
                "intent": first.intent, "aspect": first.aspect, "options": first.options}
    follow = answerer.answer(product, "and the hinge?", previous=previous)
    assert (follow.question_type, follow.aspect, follow.answer) == ("yes_no", "hinge", "no")
    assert follow.follow_up_of == "is the sound quality good?"


def test_question_types_on_the_labelled_set(answerer):
    with open(LABELLED, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) >= 150 and set(Counter(r["type"] for r in rows)) == {"yes_no", "choice", "open", "knowledge"}
    templates = set(answerer.classifier.templates["question"].str.lower())
    assert not templates & {r["question"].lower().rstrip("?") for r in rows}   # templates are not the test set
    predicted = [answerer.classifier.classify(r["question"]) for r in rows]
    type_accuracy = sum(p[0] == r["type"] for p, r in zip(predicted, rows, strict=True)) / len(rows)
    knowledge = [(p, r) for p, r in zip(predicted, rows, strict=True) if r["type"] == "knowledge"]
    intent_accuracy = sum(p[1] == r["intent"] for p, r in knowledge) / len(knowledge)
    assert type_accuracy >= 0.88, type_accuracy
    assert intent_accuracy >= 0.7, intent_accuracy


def test_an_aspect_never_spelled_out_is_answered_from_sentences_about_it(answerer):
    # Reviewers rarely write "durability"; what they write resembles it. A sentence naming another of the
    # product's aspects (the battery life) is about that aspect, however durable it sounds.
    reviews = [(1, "It fell apart after two weeks, terrible."),
               (1, "Mine broke within a month of light use, awful."),
               (5, "Still going strong after two years of daily use, great."),
               (5, "The battery life has held up well over the years."),
               (5, "Shipping was fast and the box was nice.")]
    rows = pd.DataFrame([{"review_id": f"d{i}", "sentence_idx": 0, "sentence": text, "lexicon_polarity": None,
                          "tone": (rating - 3) / 2, "review_date": date(2024, 2, 1), "aspect_terms": None,
                          "aspect_polarity": None} for i, (rating, text) in enumerate(reviews)])
    sentences = usable_sentences(rows).reset_index(drop=True)
    sentences["vector"] = list(answerer.embed(sentences["sentence"].tolist()))   # as stored by the sentences stage
    product = ProductReviews("P2", "Trail Pack", "Bags", sentences, ["durability", "battery life", "shipping"],
                             len(reviews), frozenset({"pack"}))
    result = answerer.answer(product, "is the durability good?")
    assert result.question_type == "yes_no" and result.aspect == "durability"
    assert result.answer != "not discussed"
    assert (result.support["yes"], result.support["no"]) == (1, 2)
    assert {e["review_id"] for e in result.evidence} == {"d0", "d1", "d2"}
