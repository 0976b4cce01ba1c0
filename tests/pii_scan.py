"""Personal data planted in a synthetic input, and a scan for it in any text (tables, files, logs).

The values are read from the input file itself (reviewer ids and names, the e-mails and phone numbers the
generator put into texts), never from the pipeline's output."""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path

EMAIL = re.compile(r"[\w.+-]+@example\.com")
PHONE = re.compile(r"\(555\) \d{3}-\d{4}")
WORD = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class Secrets:
    ids: frozenset[str]
    names: frozenset[str]      # full names, lower case
    planted: frozenset[str]    # e-mails and phone numbers found in the texts


def read_secrets(reviews_file: Path) -> Secrets:
    """The personal values of a gzipped JSON-lines review file (unparsable lines skipped)."""
    ids, names, planted = set(), set(), set()
    with gzip.open(reviews_file, "rt", errors="replace") as lines:
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            ids.add(str(record.get("reviewerID", "")))
            if record.get("reviewerName"):
                names.add(record["reviewerName"].lower())
            text = str(record.get("reviewText", ""))
            planted |= set(EMAIL.findall(text)) | set(PHONE.findall(text))
    ids.discard("")
    return Secrets(frozenset(ids), frozenset(names), frozenset(planted))


def leaks(text: str, secrets: Secrets) -> list[str]:
    """Every e-mail or phone number of the generator's form, raw reviewer id or full name in `text`."""
    found = EMAIL.findall(text) + PHONE.findall(text)
    words = WORD.findall(text)
    found += [w for w in words if w in secrets.ids]
    lowered = [w.lower() for w in words]
    found += [pair for pair in (f"{a} {b}" for a, b in zip(lowered, lowered[1:], strict=False))
              if pair in secrets.names]
    return found
