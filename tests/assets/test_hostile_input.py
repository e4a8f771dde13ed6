"""Hostile inbox entries and absurd magnitudes through the real asset graph, on both stores.

Every entry of a day folder (links out of the inbox, dangling links, directories, dot-files,
FIFOs, sockets) becomes a queue row and a failed extraction row with its error code, hence an
EXTRACTION_FAILED incident: invoices in = ok + failed. An absurd consumption is a validation
error (VALIDATION_FAILED), not a pricing bug (CALC_BUG).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.assets.helpers import materialize_day, store_for
from tests.conftest import SMOKE
from tests.inbox_entries import EXPECTED, hostile_day

DAY = "2025-02-03"


def test_every_entry_of_a_day_is_accounted_for_and_no_link_out_is_read(
    env, apply_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_env(env)
    hostile_day(Path(env["INVOICE_HOME"]) / "inbox", DAY, tmp_path, monkeypatch)

    assert materialize_day(env, DAY).success

    store = store_for(env)
    rows = store.read_stage("extractions", [DAY]).set_index("source_file")
    assert sorted(rows.index) == sorted(EXPECTED)  # one row per entry, none lost, none extra
    refused = {name: code for name, code in EXPECTED.items() if code}
    assert rows.loc[list(refused), "status"].eq("failed").all()
    assert rows.loc[list(refused), "error_code"].to_dict() == refused
    assert rows.loc[["a-regular.json", "l-inside-link.json"], "status"].eq("ok").all()
    assert "OUTSIDE-THE-INBOX" not in set(rows["invoice_key"])  # the link out was never read

    queue = store.inbox_files([DAY]).set_index("file_name")
    assert sorted(queue.index) == sorted(EXPECTED)
    assert queue.loc[list(refused), "status"].eq("failed").all()
    assert queue.loc[list(refused), "error_code"].to_dict() == refused

    incidents = [i for i in store.list_incidents(limit=100) if i["day"] == DAY]
    failed = {i["invoice_key"] for i in incidents if i["primary_flag"] == "EXTRACTION_FAILED"}
    assert failed == set(rows.loc[list(refused), "invoice_key"])

    summary = store.load_document("run_summary", DAY)
    assert summary is not None
    assert summary["counts"]["total_invoices"] == len(EXPECTED)  # in = ok + failed


def test_an_absurd_consumption_is_a_validation_failure_not_a_calc_bug(env, apply_env) -> None:
    apply_env(env)
    record = json.loads((SMOKE / "happy_path_invoice.json").read_text(encoding="utf-8"))
    record["invoice"]["invoice_no"] = "ABSURD-KWH"
    record["extraction"]["consumption_kwh"]["value"] = 1e308  # the red team's value
    folder = Path(env["INVOICE_HOME"]) / "inbox" / DAY
    folder.mkdir(parents=True)
    (folder / "absurd.json").write_text(json.dumps(record), encoding="utf-8")

    assert materialize_day(env, DAY).success

    store = store_for(env)
    (incident,) = store.list_incidents(limit=10)
    assert incident["primary_flag"] == "VALIDATION_FAILED"
    assert incident["severity"] == "S2"
    assert "CALC_BUG" not in (incident["secondary_flags"] or [])
    offer = store.read_stage("offers", [DAY]).iloc[0]
    assert offer["offer_status"] == "not_priced"
    assert offer["offer_reason"] == "not_ready_for_pricing"
    validation = store.read_stage("validations", [DAY]).iloc[0]
    errors = json.loads(validation["errors_json"])
    assert {"code": "IMPLAUSIBLE_VALUE", "field": "consumption_kwh"}.items() <= errors[0].items()
