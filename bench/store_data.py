"""Fill a store with evaluated days quickly (the reports and API benchmarks): synthetic invoices
through the real domain ``evaluate``, written with ``InvoiceStore.replace_partitions`` and
``write_incidents`` exactly as the stage assets write them, without running Dagster.

What is written per day: ``extractions`` (with start times ~2 s before the day's decision, as
``mark_decided`` records it), ``validations``
(breakdown, mismatch and validation facts) and ``incidents`` (reconciled as the incidents asset
does). Then a third of the incidents are resolved and two thirds of those get feedback with one
bulk UPDATE each, so summaries and health reports have every section populated.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from bench.synthetic import synthetic_invoices


def load_days(
    store: Any, days: list[str], per_day: int, market: Any, t: Any, seed: int = 0
) -> dict[str, Any]:
    """Write ``per_day`` evaluated invoices for each of ``days``; returns row counts."""
    from sqlalchemy import text

    from invoice_assets.domain.days import day_bounds
    from invoice_assets.domain.incidents import reconcile_incidents
    from invoice_assets.domain.pipeline import evaluate

    totals = {"invoices": 0, "incidents": 0}
    for number, day in enumerate(days):
        rng = np.random.default_rng(seed + number)
        invoices, lines = synthetic_invoices(
            per_day, market, t, seed=seed + number, prefix=f"{day}-"
        )
        ev = evaluate(invoices, lines, market, t)
        start, _ = day_bounds(day)
        decided_at = start + timedelta(hours=1)
        x = invoices.copy()
        x["day"] = day
        x["extraction_ms"] = np.nan
        x["http_status"] = None
        pipeline_ms = rng.lognormal(np.log(2_000.0), 0.4, per_day)  # decision − start, per invoice
        x["started_at"] = pd.Timestamp(decided_at) - pd.to_timedelta(pipeline_ms, unit="ms")
        v = pd.concat([ev.breakdown, ev.mismatch, ev.validation], axis=1)
        v.insert(0, "invoice_key", invoices["invoice_key"].to_numpy())
        v.insert(0, "day", day)
        v["errors_json"] = "[]"
        v["warnings_json"] = "[]"
        store.replace_partitions({"extractions": x, "validations": v}, [day])
        store.mark_decided([day], decided_at)

        computed = ev.incidents.copy()
        computed["day"] = day
        rows = computed["row"].to_numpy()
        computed["ocr_suspect"] = (
            ev.mismatch["suspect_reason"].eq("OCR_LOCALE_SUSPECT").to_numpy()[rows]
        )
        now = datetime.now(UTC)
        existing = store.incident_state([day], "default")
        upserts, resolved = reconcile_incidents(
            existing, computed, invoices["invoice_key"], pd.Timestamp(now), t
        )
        store.write_incidents(
            upserts, resolved, "default", now, max_recompute=t.Recovery.MAX_RECOMPUTE
        )
        totals["invoices"] += per_day
        totals["incidents"] += len(upserts)

    now = datetime.now(UTC)
    feedback = json.dumps({"action_taken": "VERIFIED_LOGIC", "was_hint_correct": True})
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE incidents SET status = 'RESOLVED', resolution_reason = 'manual_resolved',"
                " resolved_at = :now WHERE incident_id % 3 = 0"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "UPDATE incidents SET feedback_json = :doc,"
                " was_hint_correct = (incident_id % 2 = 0), resolution_time_seconds = 600,"
                " feedback_by = 'bench', feedback_at = :now"
                " WHERE incident_id % 3 = 0 AND incident_id % 9 <> 0"
            ),
            {"now": now, "doc": feedback},
        )
    return totals
