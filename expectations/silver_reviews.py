"""Expectation suite for silver.reviews: what every downstream stage may assume about it."""

from __future__ import annotations

from datetime import date, timedelta

import great_expectations as gx
import great_expectations.expectations as gxe

from reviewlake.config import CleanRules

SUITE_NAME = "silver_reviews"
TABLE = "silver.reviews"
EMAIL_PATTERN = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
PSEUDONYM_PATTERN = r"^u_[0-9a-f]{16}$"
LANGUAGES = ["en", "es", "fr", "de", "it", "pt", "und"]


def build_suite(rules: CleanRules, run_date: date) -> gx.ExpectationSuite:
    """The suite, parameterised by the same bounds the clean stage enforces."""
    suite = gx.ExpectationSuite(name=SUITE_NAME)
    for expectation in (
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        gxe.ExpectColumnValuesToNotBeNull(column="review_id"),
        gxe.ExpectColumnValuesToBeUnique(column="review_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="product_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="text_hash"),
        gxe.ExpectColumnValuesToMatchRegex(column="user_id", regex=PSEUDONYM_PATTERN),
        gxe.ExpectColumnValuesToBeBetween(column="rating", min_value=1, max_value=5),
        gxe.ExpectColumnValuesToBeBetween(
            column="review_date", min_value=date(rules.min_review_year, 1, 1).isoformat(),
            max_value=(run_date + timedelta(days=rules.future_tolerance_days + 1)).isoformat()),
        gxe.ExpectColumnValueLengthsToBeBetween(column="text", min_value=0, max_value=rules.max_text_chars),
        gxe.ExpectColumnValuesToNotMatchRegex(column="text", regex=EMAIL_PATTERN),
        gxe.ExpectColumnValuesToNotMatchRegex(column="title", regex=EMAIL_PATTERN),
        gxe.ExpectColumnValuesToBeInSet(column="language", value_set=LANGUAGES),
    ):
        suite.add_expectation(expectation)
    return suite
