"""``invoice-ops suppliers``: check and resolve the supplier table, and re-key a store after the
table was edited (a new alias or tax id names one supplier that was two), on both backends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from resources.suppliers import SUPPLIERS_FILE
from tests.assets.helpers import materialize_day, store_for
from tests.conftest import invoke
from tests.domain.conftest import make_record

D1, D2 = "2025-02-03", "2025-02-04"
TOTAL = "invoice_total_with_vat_tl"
MISMATCH = make_record()["extraction"][TOTAL]["value"] * 1.1


def _put(env: dict[str, str], day: str, name: str, invoice: dict[str, Any]) -> None:
    folder = Path(env["INVOICE_HOME"]) / "inbox" / day
    folder.mkdir(parents=True, exist_ok=True)
    record = make_record(invoice=invoice, **{TOTAL: MISMATCH})
    (folder / name).write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")


def test_check_lists_the_known_suppliers_and_resolve_names_one(cli_env) -> None:
    code, out, _ = invoke("suppliers", "check", "--json")
    assert code == 0
    assert json.loads(out)["suppliers"]["ck-bogazici"] == "CK Boğaziçi"

    code, out, _ = invoke(
        "suppliers", "resolve", "CK BOGAZICI ELEKTRIK PERAKENDE SATIS A.S.", "--json"
    )
    assert code == 0
    assert json.loads(out) == {
        "printed": "CK BOGAZICI ELEKTRIK PERAKENDE SATIS A.S.",
        "supplier_id": "ck-bogazici",
        "supplier": "CK Boğaziçi",
        "known": True,
    }


def test_a_broken_table_exits_two_naming_every_conflict(cli_env, tmp_path, monkeypatch) -> None:
    broken = tmp_path / "suppliers.yaml"
    broken.write_text(
        "suppliers:\n  - name: Gediz\n    aliases: [Aydem Elektrik]\n  - name: Aydem\n"
        "  - name: X\n    tax_ids: ['12']\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("INVOICE_SUPPLIERS_FILE", str(broken))

    code, _, err = invoke("suppliers", "check")

    assert code == 2
    assert "'gediz' and 'aydem'" in err and "'12' is not 10 or 11 digits" in err


@pytest.fixture
def split_supplier(env: dict[str, str], apply_env) -> dict[str, str]:
    """Two invoices, each printed one way on day 1 and another way on day 2 that the shipped
    table does not know to be the same supplier: four incidents where there are two."""
    apply_env(env)
    _put(env, D1, "m.json", {"supplier": "Marmara Enerji A.Ş.", "invoice_no": "INV-1"})
    _put(env, D2, "m.json", {"supplier": "MEPAŞ", "invoice_no": "INV-1"})
    acme = {"supplier": "Acme", "supplier_tax_id": "1234567890", "invoice_no": "INV-5"}
    _put(env, D1, "a.json", acme)
    _put(env, D2, "a.json", {"supplier": "Acme Enerji A.Ş.", "invoice_no": "INV-5"})
    assert materialize_day(env, D1).success and materialize_day(env, D2).success
    assert len(store_for(env).list_incidents(limit=100)) == 4
    return env


def test_rekey_after_a_table_edit_merges_what_the_edit_made_one(
    split_supplier, tmp_path, monkeypatch
) -> None:
    env = split_supplier
    store = store_for(env)
    day_one = {i["invoice_no"]: i for i in store.list_incidents(day=D1)}
    store.set_incident_status(day_one["INV-1"]["incident_id"], "ACK", None, store_now())
    edited = tmp_path / "suppliers.yaml"
    edited.write_text(
        SUPPLIERS_FILE.read_text(encoding="utf-8")
        + "  - name: Marmara Enerji\n    aliases: [MEPAŞ]\n"
        + "  - name: Acme Enerji\n    tax_ids: ['1234567890']\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("INVOICE_SUPPLIERS_FILE", str(edited))  # the CLI's environment
    env = {**env, "INVOICE_SUPPLIERS_FILE": str(edited)}  # the runs'

    code, out, _ = invoke("suppliers", "rekey", "--json")

    assert code == 0, out
    counts = json.loads(out)
    assert counts["incidents_merged"] == 2
    incidents = {i["invoice_key"]: i for i in store.list_incidents(limit=100)}
    assert set(incidents) == {"marmara-enerji|INV-1|2025-01", "acme-enerji|INV-5|2025-01"}
    marmara = incidents["marmara-enerji|INV-1|2025-01"]
    assert (marmara["day"], marmara["status"], marmara["supplier"]) == (D1, "ACK", "Marmara Enerji")
    assert incidents["acme-enerji|INV-5|2025-01"]["supplier"] == "Acme Enerji"
    for day in (D1, D2):
        rows = store.read_stage("extractions", [day]).set_index("source_file")
        assert rows.loc["m.json", "invoice_key"] == "marmara-enerji|INV-1|2025-01"
        assert rows.loc["a.json", "supplier_id"] == "acme-enerji"

    # The next run finds them by the new keys: a re-arrival, not a new incident.
    assert materialize_day(env, D2).success
    assert len(store.list_incidents(limit=100)) == 2
    assert store.list_incidents(day=D2) == []
    code, out, _ = invoke("suppliers", "rekey", "--json")
    assert json.loads(out) == {
        "invoice_keys_changed": 0,
        "incidents_rekeyed": 0,
        "incidents_merged": 0,
        "rows_renamed": 0,
    }


def store_now():
    from invoice_assets.kernel.clock import SYSTEM_CLOCK

    return SYSTEM_CLOCK.now()
