"""Issue 17 through the asset graph, on SQLite and PostgreSQL: one supplier however it is
printed, a missing period owned by extraction, and incidents that stay on their first day while
a re-arrival is counted on the later day."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from invoice_assets.domain.incidents import dedupe_key
from tests.assets.helpers import materialize_day, store_for
from tests.domain.conftest import make_record

D1, D2 = "2025-02-03", "2025-02-04"
TOTAL = "invoice_total_with_vat_tl"
MISMATCH = make_record()["extraction"][TOTAL]["value"] * 1.1  # an S2 total mismatch


def _put(env: dict[str, str], day: str, name: str, record: dict[str, Any]) -> None:
    folder = Path(env["INVOICE_HOME"]) / "inbox" / day
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")


def _mismatched(supplier: str, number: str = "INV-1") -> dict[str, Any]:
    return make_record(invoice={"supplier": supplier, "invoice_no": number}, **{TOTAL: MISMATCH})


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    (event,) = [
        e
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key == dg.AssetKey(asset)
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


@pytest.fixture
def two_days(env: dict[str, str], apply_env) -> dict[str, str]:
    """Day 1: CK Boğaziçi's invoice INV-1 printed "CK Bogazici" (a mismatch) and an unrelated
    invoice; day 2: the same INV-1 printed in the long legal form, and a new invoice printed
    "ck bogazici"."""
    apply_env(env)
    _put(env, D1, "a.json", _mismatched("CK Bogazici"))
    _put(env, D1, "b.json", _mismatched("Acme Enerji A.Ş.", "INV-9"))
    _put(env, D2, "again.json", _mismatched("CK BOĞAZİÇİ ELEKTRİK PERAKENDE SATIŞ A.Ş."))
    _put(env, D2, "c.json", _mismatched("ck bogazici", "INV-2"))
    return env


def test_an_invoice_printed_two_ways_on_two_days_has_one_incident_on_its_first_day(
    two_days,
) -> None:
    store = store_for(two_days)
    first = materialize_day(two_days, D1)
    day_one = sorted(i["incident_id"] for i in store.list_incidents(day=D1))
    summary_one = store.load_document("run_summary", D1)

    second = materialize_day(two_days, D2)

    assert first.success and second.success
    key = "ck-bogazici|INV-1|2025-01"
    (incident,) = [i for i in store.list_incidents(limit=100) if i["invoice_key"] == key]
    assert incident["day"] == D1  # never moved to the day it arrived again
    assert incident["occurrence_count"] == 2
    assert incident["last_seen_at"] > incident["first_seen_at"]
    assert incident["source_file"] == "a.json"  # what day 1 raised it from
    assert (incident["supplier"], incident["supplier_id"]) == ("CK Boğaziçi", "ck-bogazici")
    assert incident["dedupe_key"] == dedupe_key("default", key, "INVOICE_TOTAL_MISMATCH")
    # The earlier day's list and run summary did not change; the later day has its own.
    assert sorted(i["incident_id"] for i in store.list_incidents(day=D1)) == day_one
    assert store.load_document("run_summary", D1)["counts"] == summary_one["counts"]
    assert [i["invoice_key"] for i in store.list_incidents(day=D2)] == ["ck-bogazici|INV-2|2025-01"]
    # The later day counts the invoice as a re-arrival, not as one of its incidents.
    figures = _metadata(second, "incidents")
    assert (figures["incident_count"], figures["re_arrival_count"]) == (1, 1)
    counts = store.load_document("run_summary", D2)["counts"]
    assert (counts["incident_count"], counts["re_arrival_count"]) == (1, 1)
    assert _metadata(second, "run_summary")["re_arrival_count"] == 1
    assert _metadata(first, "incidents")["re_arrival_count"] == 0


def test_reports_group_one_supplier_once(two_days) -> None:
    materialize_day(two_days, D1)
    materialize_day(two_days, D2)

    report = store_for(two_days).load_document("system_health_report", D2)
    by_count = report["top_offenders"]["by_count"]
    assert by_count == [
        {"supplier": "CK Boğaziçi", "supplier_id": "ck-bogazici", "incidents": 2},
        {"supplier": "Acme Enerji A.Ş.", "supplier_id": "acme-enerji", "incidents": 1},
    ]
    rows = store_for(two_days).read_stage("extractions", [D2]).set_index("source_file")
    assert rows.loc["again.json", ["supplier", "supplier_id"]].tolist() == [
        "CK Boğaziçi",
        "ck-bogazici",
    ]


def test_rerunning_the_first_day_after_the_second_keeps_one_incident_there(two_days) -> None:
    materialize_day(two_days, D1)
    materialize_day(two_days, D2)

    again = materialize_day(two_days, D1)

    store = store_for(two_days)
    key = "ck-bogazici|INV-1|2025-01"
    (incident,) = [i for i in store.list_incidents(limit=100) if i["invoice_key"] == key]
    assert (incident["day"], incident["occurrence_count"]) == (D1, 3)
    assert _metadata(again, "incidents")["re_arrival_count"] == 0
    assert len(store.list_incidents(day=D1)) == 2


def test_an_invoice_without_period_or_date_is_an_extraction_gap(env, apply_env) -> None:
    apply_env(env)
    _put(
        env,
        D1,
        "no-period.json",
        make_record(invoice={"invoice_period": None, "invoice_date": None}),
    )

    assert materialize_day(env, D1).success

    store = store_for(env)
    (incident,) = store.list_incidents(day=D1)
    assert (incident["primary_flag"], incident["severity"]) == ("MISSING_FIELDS", "S2")
    assert incident["secondary_flags"] == []
    assert incident["action_hint"]["owner"] == "extraction-oncall"
    flags = store.read_stage("flags", [D1])["flag"].tolist()
    assert "MARKET_PRICE_MISSING" not in flags
    offer = store.read_stage("offers", [D1]).iloc[0]
    assert (offer["offer_status"], offer["offer_reason"]) == ("not_priced", "not_ready_for_pricing")
