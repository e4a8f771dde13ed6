"""The Great Expectations suites pass on good stage frames and name what fails on bad ones."""

from __future__ import annotations

import pandas as pd
import pytest

from invoice_assets.assets.reads import keyed
from invoice_assets.checks.expectations import extractions_expectations, offers_expectations
from invoice_assets.domain.pipeline import evaluate


@pytest.fixture(scope="module")
def frames(t, market) -> tuple[pd.DataFrame, pd.DataFrame]:
    from bench.synthetic import synthetic_invoices

    invoices, lines = synthetic_invoices(300, market, t, seed=3)
    invoices["day"] = "2026-01-05"
    offers = keyed(invoices, evaluate(invoices, lines, market, t).offers)
    return invoices, offers


def failures(result) -> dict[str, int]:
    return {
        f"{f['expectation']}:{f['column']}": f["unexpected_count"]
        for f in result.metadata["failures"].data
    }


def test_the_suites_pass_on_an_evaluated_partition(frames):
    invoices, offers = frames
    assert extractions_expectations(invoices).passed
    assert offers_expectations(offers).passed


def test_the_extractions_suite_fails_on_duplicate_keys_and_out_of_range_confidences(frames):
    invoices = frames[0].copy()
    invoices.loc[1, "invoice_key"] = invoices.loc[0, "invoice_key"]
    invoices["conf_btv_tl"] = invoices["conf_btv_tl"].astype("float64")
    invoices.loc[2, "conf_btv_tl"] = 1.5
    result = extractions_expectations(invoices)
    assert not result.passed
    found = failures(result)
    assert found["expect_column_values_to_be_between:conf_btv_tl"] == 1
    assert any(k.startswith("expect_compound_columns_to_be_unique") for k in found)


def test_the_extractions_suite_fails_on_a_failed_row_without_an_error_code(frames):
    invoices = frames[0].copy()
    invoices["status"] = invoices["status"].astype(object)
    invoices["error_code"] = invoices["error_code"].astype(object)
    invoices.loc[0, "status"] = "failed"  # with its error_code missing
    invoices.loc[0, "error_code"] = None
    result = extractions_expectations(invoices)
    assert not result.passed
    assert result.metadata["failed_without_error_code"].value == 1


def test_the_offers_suite_fails_on_a_negative_offer_and_an_unknown_reason(frames):
    offers = frames[1].copy()
    priced = offers.index[offers["offer_status"] == "priced"][0]
    offers.loc[priced, "offer_total_tl"] = -1.0
    offers["offer_reason"] = offers["offer_reason"].astype(object)
    offers.loc[priced, "offer_reason"] = "made_up"
    result = offers_expectations(offers)
    assert not result.passed
    found = failures(result)
    assert found["expect_column_values_to_be_between:offer_total_tl"] == 1
    assert found["expect_column_values_to_be_in_set:offer_reason"] == 1
    examples = {f["column"]: f["examples"] for f in result.metadata["failures"].data}
    assert examples["offer_reason"] == ["made_up"]  # the failure names the offending values
    assert examples["offer_total_tl"] == ["-1.0"]
