"""Known answers for the text core the clean stage wraps in a pandas UDF."""

import pytest

from udfs import text_normalization as tn


@pytest.mark.parametrize(("raw", "expected"), [
    ("<p>Great.<br/>Really <b>Tom &amp; Jerry</b> approved</p>", "Great. Really Tom & Jerry approved"),
    ("Donâ€™t miss it â€“ itâ€™s great.", "Don't miss it – it's great."),
    ("  lots\n\tof   space  ", "lots of space"),
    ("bad \ufffd\ufffdbytes\u0007 here", "bad bytes here"),
    ("Cafe\u0301", "Café"),  # NFC: e + combining accent -> one code point
    (None, None),
])
def test_normalize_text(raw, expected):
    assert tn.normalize_text(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("Mail me at sam.12@example.com now", "Mail me at [EMAIL] now"),
    ("Call me at +1 (555) 123-4567 for details.", "Call me at [PHONE] for details."),
    ("call 555.123.4567", "call [PHONE]"),
    ("It cost $19.99 in 2016 and 12 345 units", "It cost $19.99 in 2016 and 12 345 units"),
    ("see https://shop.example/x?token=abc123 and https://shop.example/item",
     "see [URL] and https://shop.example/item"),
    ("profile www.example.com/users/AbCdEfGhIjKlMnOpQrStUv", "profile [URL]"),
    ("", ""),
])
def test_redact_pii(raw, expected):
    assert tn.redact_pii(raw) == expected


def test_near_duplicates_share_a_hash_and_different_texts_do_not():
    assert tn.review_text_hash("  GREAT   product. ") == tn.review_text_hash("great product")
    assert tn.review_text_hash("great product") != tn.review_text_hash("bad product")
    assert tn.review_text_hash(None) == tn.review_text_hash("")
    assert tn.review_text_hash("lasted 2 hours") != tn.review_text_hash("lasted 10 hours")


@pytest.mark.parametrize(("text", "language"), [
    ("This is the best blender and it was cheap", "en"),
    ("El producto es muy bueno y la entrega para mi casa", "es"),
    ("Das Produkt ist sehr gut und die Lieferung war schnell", "de"),
    ("ok", "und"),
    ("Five stars", "und"),
    ("Works as it should", "en"),
    ("", "und"),
])
def test_detect_language(text, language):
    assert tn.detect_language(text) == language


def test_clean_review_text_redacts_after_normalising():
    # The e-mail is only visible as an address once the HTML entity is decoded.
    assert tn.clean_review_text("write to bob&#64;example.com<br>") == "write to [EMAIL]"
