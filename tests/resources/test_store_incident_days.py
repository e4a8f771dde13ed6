"""An incident stays on the day it was first raised (SPEC §5.5, issue 17), on both backends:
``write_incidents`` never moves it, a re-arrival updates only its state, and the store counts
re-arrivals the way the ``incidents`` asset does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd

from invoice_assets.kernel.clock import SYSTEM_CLOCK
from resources.store import InvoiceStore
from tests.assets.helpers import store_for
from tests.incident_rows import open_incident

utcnow = SYSTEM_CLOCK.now  # the moment these tests stamp their writes with

D1, D2 = "2025-02-03", "2025-02-04"
NONE = pd.DataFrame(columns=["dedupe_key"])


def _store(env: dict[str, str]) -> InvoiceStore:
    store = store_for(env)
    store.ensure_schema()
    return store


def incident_row(**changes: Any) -> dict[str, Any]:
    """An open incident of CK Boğaziçi's invoice INV-1 raised on D1, as ``reconcile_incidents``
    hands it to ``write_incidents``."""
    return (
        open_incident(
            "d" * 64,
            D1,
            "ck-bogazici|INV-1|2025-01",
            supplier="CK Boğaziçi",
            supplier_id="ck-bogazici",
            source_file="first.json",
            mismatch_info={"delta": 8000.0},
            re_arrival=False,
        )
        | changes
    )


def test_an_update_never_moves_an_incident_to_another_day(env) -> None:
    store = _store(env)
    store.write_incidents(
        pd.DataFrame([incident_row()]), NONE, "default", utcnow(), max_recompute=5
    )

    moved = incident_row(day=D2, source_file="rerun.json", occurrence_count=2)
    store.write_incidents(pd.DataFrame([moved]), NONE, "default", utcnow(), max_recompute=5)

    (row,) = store.list_incidents()
    assert row["day"] == D1
    assert row["source_file"] == "rerun.json"  # a rerun of its own day refreshes the content
    assert store.list_incidents(day=D2) == []


def test_a_re_arrival_updates_the_state_and_leaves_the_first_days_content(env) -> None:
    store = _store(env)
    store.write_incidents(
        pd.DataFrame([incident_row()]), NONE, "default", utcnow(), max_recompute=5
    )
    later = pd.Timestamp(utcnow()) + timedelta(days=1)

    again = incident_row(
        day=D1,
        re_arrival=True,
        source_file="later.json",
        severity="S1",
        ocr_suspect=True,
        occurrence_count=2,
        recompute_count=1,
        last_seen_at=later,
    )
    counts = store.write_incidents(
        pd.DataFrame([again]), NONE, "default", utcnow(), max_recompute=5
    )

    assert counts == {"inserted": 0, "updated": 1, "resolved": 0}
    (row,) = store.list_incidents(day=D1)
    assert (row["source_file"], row["severity"], row["ocr_suspect"]) == ("first.json", "S2", False)
    assert (row["occurrence_count"], row["recompute_count"]) == (2, 1)
    assert row["last_seen_at"] == later.to_pydatetime()


def test_the_store_counts_invoices_whose_incident_belongs_to_another_day(env) -> None:
    store = _store(env)
    store.write_incidents(
        pd.DataFrame([incident_row()]), NONE, "default", utcnow(), max_recompute=5
    )
    key = incident_row()["invoice_key"]
    for day, keys in ((D1, [key, "other"]), (D2, [key, "new"])):
        frame = pd.DataFrame({"day": day, "invoice_key": keys, "status": "ok"})
        store.replace_partitions({"extractions": frame}, [day])

    assert store.re_arrival_count(D1, D1) == 0  # the incident's own day
    assert store.re_arrival_count(D2, D2) == 1
    assert store.re_arrival_count(D1, D2) == 1
    state = store.incident_state([D2], "default")
    assert state["day"].tolist() == [D1]  # what reconcile_incidents is told
