"""Review text normalisation, PII redaction, duplicate hashing and language guess: plain Python, no Spark.

jobs/clean wraps `clean_review_text` in a pandas UDF; tests call these functions directly.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata

import ftfy

_TAG = re.compile(r"<[^>]{0,200}>")
# What a script or style element holds is code, not review words: dropped with its tags.
_CODE_ELEMENT = re.compile(r"<\s*(script|style)\b[^>]{0,200}>.*?<\s*/\s*\1\s*>", re.IGNORECASE | re.DOTALL)
_BLOCK_TAG = re.compile(r"<\s*(br|/p|p|/div|div|li|/li)\b[^>]{0,50}>", re.IGNORECASE)
_CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd\u200b]")
_WHITESPACE = re.compile(r"\s+")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
# Query parameters and path tokens that identify a person or grant access.
_PERSONAL_URL = re.compile(
    r"[?&;](?:token|key|api_?key|email|e-mail|user|uid|userid|user_id|session|sid|auth|code|ref|id)=|"
    r"@|/[A-Za-z0-9_-]{20,}", re.IGNORECASE)
_PHONE_CANDIDATE = re.compile(r"(?<![\w.])\+?\(?\d[\d\s().-]{7,18}\d(?![\w])")
PHONE_DIGITS = (9, 15)

EMAIL_TOKEN, PHONE_TOKEN, URL_TOKEN = "[EMAIL]", "[PHONE]", "[URL]"

_STOPWORDS = {
    "en": {"the", "and", "is", "it", "this", "for", "was", "with", "not", "but", "very", "of", "to", "my"},
    "es": {"el", "la", "es", "y", "que", "muy", "con", "para", "pero", "los", "una", "por", "no"},
    "fr": {"le", "la", "est", "et", "très", "avec", "pour", "mais", "les", "une", "pas", "je", "du"},
    "de": {"der", "die", "das", "ist", "und", "sehr", "mit", "für", "aber", "nicht", "ich", "ein", "es"},
    "it": {"il", "è", "e", "molto", "con", "per", "ma", "non", "che", "della", "una", "sono"},
    "pt": {"o", "é", "e", "muito", "com", "para", "mas", "não", "que", "uma", "os", "do"},
}
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def normalize_text(text: str | None) -> str | None:
    """Strip HTML, repair mojibake, NFC-normalise, drop control/replacement characters, collapse spaces."""
    if text is None:
        return None
    if "<" in text:
        text = _TAG.sub("", _BLOCK_TAG.sub(" ", _CODE_ELEMENT.sub(" ", text)))
    text = html.unescape(text)
    # ftfy repairs UTF-8 read as cp1252/latin-1 ("donâ€™t" -> "don’t") and only then NFC makes sense.
    text = ftfy.fix_text(text, normalization="NFC", unescape_html=False)
    text = _CONTROL.sub("", text)
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def _redact_phone(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match.group())
    return PHONE_TOKEN if PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1] else match.group()


def _redact_url(match: re.Match[str]) -> str:
    return URL_TOKEN if _PERSONAL_URL.search(match.group()) else match.group()


def redact_pii(text: str | None) -> str | None:
    """Replace e-mail addresses, phone numbers and URLs carrying personal tokens by placeholders."""
    if not text:
        return text
    text = _URL.sub(_redact_url, text)
    text = _EMAIL.sub(EMAIL_TOKEN, text)
    return _PHONE_CANDIDATE.sub(_redact_phone, text)


def review_text_hash(text: str | None) -> str:
    """Hash of the text's words, case- and spacing-insensitive: near duplicates share it."""
    words = " ".join(w.lower() for w in _TOKEN.findall(text or ""))
    return hashlib.sha1(words.encode("utf-8")).hexdigest()[:20]


def detect_language(text: str | None) -> str:
    """ISO 639-1 guess from stop-word hits; 'und' when the text is too short or ambiguous."""
    words = [w.lower() for w in _WORD.findall(text or "")[:200]]
    if not words:
        return "und"
    hits = {lang: sum(w in stop for w in words) for lang, stop in _STOPWORDS.items()}
    best = max(hits, key=hits.__getitem__)
    ranked = sorted(hits.values(), reverse=True)
    # One stop-word hit is enough when no other language ties: short reviews ("works as it should").
    return best if ranked[0] >= 1 and ranked[0] > ranked[1] else "und"


def clean_review_text(text: str | None) -> str | None:
    """Normalise, then redact: the text as it is stored in silver."""
    return redact_pii(normalize_text(text))
