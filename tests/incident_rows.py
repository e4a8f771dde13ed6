"""A new, OPEN incident row as ``reconcile_incidents`` gives it to ``InvoiceStore.write_incidents``
(for store and API tests that need incidents without running the graph)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from invoice_assets.kernel.clock import SYSTEM_CLOCK


def open_incident(dedupe_key: str, day: str, invoice_key: str, **overrides: Any) -> dict[str, Any]:
    now = pd.Timestamp(SYSTEM_CLOCK.now())
    return {
        "dedupe_key": dedupe_key,
        "day": day,
        "invoice_key": invoice_key,
        "supplier": "x",
        "severity": "S2",
        "primary_flag": "INVOICE_TOTAL_MISMATCH",
        "secondary_flags": [],
        "action_class": "VERIFY_INVOICE_LOGIC",
        "action_hint": {"action_class": "VERIFY_INVOICE_LOGIC"},
        "mismatch_info": None,
        "ocr_suspect": False,
        "error_code": None,
        "status": "OPEN",
        "resolution_reason": None,
        "resolved_at": None,
        "occurrence_count": 1,
        "recompute_count": 0,
        "recompute_limit_exceeded": False,
        "first_seen_at": now,
        "last_seen_at": now,
    } | overrides
