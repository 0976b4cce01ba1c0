"""The lemma dictionary behind Spark NLP's Lemmatizer, on hand-written lookup rows and on lemminflect's table."""

from udfs.lemma_dictionary import dictionary_lines, lemma_of_word, lemminflect_rows

ROWS = [
    ("leaves", "verb", "leave"), ("leaves", "noun", "leaf/leave"), ("Weeks", "propn", "Weeks"),
    ("weeks", "noun", "week"), ("Weekses", "noun", "Weeks"), ("'d", "aux", "will/have"), ("ran", "verb", "run"),
]


def test_nouns_and_lower_case_entries_win():
    lemmas = lemma_of_word(ROWS)
    assert lemmas == {"leaves": "leaf", "weeks": "week", "weekses": "weeks", "ran": "run"}


def test_every_form_is_named_by_exactly_one_line():
    lines = dictionary_lines(lemma_of_word(ROWS))
    assert lines == ["leaf -> leaf\tleaves", "run -> ran\trun", "week -> week\tweeks", "weeks -> weekses"]


def test_the_shipped_table_lemmatises_common_review_nouns():
    lemmas = lemma_of_word(lemminflect_rows())
    assert {w: lemmas[w] for w in ("batteries", "blades", "headphones", "weeks", "knives")} == {
        "batteries": "battery", "blades": "blade", "headphones": "headphone", "weeks": "week", "knives": "knife"}
    assert len(lemmas) > 50_000
