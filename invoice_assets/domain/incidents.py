"""Incidents (SPEC §5.5): one per invoice with an S1/S2 flag, deduplicated across reruns.

``build_incidents`` turns the flag frame into incident rows with their action hint and
mismatch_info; ``reconcile_incidents`` decides, purely from the stored and the recomputed
incidents, what a rerun changes: occurrence counts, recompute limits, reopening, and resolving
incidents whose flags disappeared (``recompute_resolved``). Operator fields (status set by a
person, resolution, feedback) are never produced here, so the store keeps them.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from invoice_assets.domain.flags import INCIDENT_SEVERITIES
from invoice_assets.domain.hints import build_hint, confidence_note, mismatch_action_class
from invoice_assets.domain.mismatch import mismatch_info

if TYPE_CHECKING:
    from resources.thresholds import Thresholds

OPEN, ACK, RESOLVED = "OPEN", "ACK", "RESOLVED"
STATUSES = (OPEN, ACK, RESOLVED)
RECOMPUTE_RESOLVED = "recompute_resolved"
MANUAL_RESOLVED = "manual_resolved"
INCIDENT_COLUMNS = (
    "dedupe_key",
    "invoice_key",
    "supplier",
    "severity",
    "primary_flag",
    "secondary_flags",
    "action_class",
    "action_hint",
    "mismatch_info",
    "error_code",
)


def allowed_transition(current: str, target: str) -> str | None:
    """None when an operator may move an incident from ``current`` to ``target``, else why not."""
    allowed = {OPEN: {ACK, RESOLVED}, ACK: {RESOLVED}, RESOLVED: set()}
    if target not in STATUSES:
        return f"unknown status {target!r}"
    if target not in allowed.get(current, set()):
        return f"cannot move an incident from {current} to {target}"
    return None


def dedupe_key(tenant: str, invoice_key: str, primary_flag: str) -> str:
    return hashlib.sha256(f"{tenant}|{invoice_key}|{primary_flag}".encode()).hexdigest()


def build_incidents(
    invoices: pd.DataFrame,
    breakdown: pd.DataFrame,
    mismatch: pd.DataFrame,
    flags: pd.DataFrame,
    t: Thresholds,
    tenant: str,
) -> pd.DataFrame:
    """Incident rows (``INCIDENT_COLUMNS`` plus ``row``) for invoices with an S1/S2 flag."""
    serious = flags[flags["severity"].isin(INCIDENT_SEVERITIES)]
    if serious.empty:
        return pd.DataFrame(columns=["row", *INCIDENT_COLUMNS])
    grouped = serious.groupby("row", sort=True)  # flags are already ordered by priority
    primary = grouped.first()
    rows = primary.index.to_numpy()
    secondary = grouped["flag"].agg(lambda s: list(s.iloc[1:]))
    facts = pd.concat([invoices, breakdown, mismatch], axis=1).iloc[rows]
    facts = facts.loc[:, ~facts.columns.duplicated()]  # callers may pass one frame for both
    facts = facts.assign(
        _flag=primary["flag"].to_numpy(),
        _severity=primary["severity"].to_numpy(),
        _action=mismatch_action_class(mismatch.iloc[rows], t),
        _secondary=secondary.to_numpy(),
        _row=rows,
    )
    records = []
    for fact in facts.to_dict("records"):
        flag = str(fact["_flag"])
        note = confidence_note(
            float(fact["conf_consumption_kwh"]),
            float(fact["conf_current_active_unit_price_tl_per_kwh"]),
            float(fact["conf_invoice_total_with_vat_tl"]),
        )
        hint = build_hint(flag, str(fact["_action"]), fact["delta_reason_candidate"], note)
        key = str(fact["invoice_key"])
        records.append(
            {
                "row": int(fact["_row"]),
                "dedupe_key": dedupe_key(tenant, key, flag),
                "invoice_key": key,
                "supplier": fact["supplier"],
                "severity": str(fact["_severity"]),
                "primary_flag": flag,
                "secondary_flags": list(fact["_secondary"]),
                "action_class": hint["action_class"],
                "action_hint": hint,
                "mismatch_info": mismatch_info(fact) if bool(fact["has_mismatch"]) else None,
                "error_code": fact["error_code"] if flag == "EXTRACTION_FAILED" else None,
            }
        )
    return pd.DataFrame.from_records(records, columns=["row", *INCIDENT_COLUMNS])


STATE_COLUMNS = (
    "status",
    "resolution_reason",
    "resolved_at",
    "occurrence_count",
    "recompute_count",
    "recompute_limit_exceeded",
    "first_seen_at",
    "last_seen_at",
)


def reconcile_incidents(
    existing: pd.DataFrame,
    computed: pd.DataFrame,
    invoice_keys: pd.Series,
    now: pd.Timestamp,
    t: Thresholds,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What a (re)computation changes.

    ``existing`` holds the stored incidents of the invoices in scope (``dedupe_key``,
    ``invoice_key`` and ``STATE_COLUMNS``). Returns ``(upserts, resolved)``: ``upserts`` are the
    computed incidents with their new state; ``resolved`` are stored open incidents of invoices
    in scope whose flags disappeared, with their state now RESOLVED / recompute_resolved.
    """
    old = existing.set_index("dedupe_key") if len(existing) else None
    up = computed.copy()
    n = len(up)
    status = np.full(n, OPEN, dtype=object)
    reason = np.full(n, None, dtype=object)
    resolved_at = np.full(n, None, dtype=object)
    occurrences = np.ones(n, dtype="int64")
    recomputes = np.zeros(n, dtype="int64")
    first_seen = np.full(n, now, dtype=object)
    if old is not None and n:
        found = old.reindex(up["dedupe_key"])
        seen = found["status"].notna().to_numpy()
        prev_status = found["status"].to_numpy()
        prev_reason = found["resolution_reason"].to_numpy()
        reopen = seen & (prev_status == RESOLVED) & (prev_reason == RECOMPUTE_RESOLVED)
        keep = seen & ~reopen
        status[keep] = prev_status[keep]
        reason[keep] = prev_reason[keep]
        resolved_at[keep] = found["resolved_at"].to_numpy()[keep]
        occurrences[seen] = found["occurrence_count"].to_numpy()[seen].astype("int64") + 1
        prev_recomputes = found["recompute_count"].fillna(0).to_numpy().astype("int64")
        unresolved = seen & (prev_status != RESOLVED)
        recomputes[seen] = prev_recomputes[seen] + unresolved[seen]
        first_seen[seen] = found["first_seen_at"].to_numpy()[seen]
    up["status"] = status
    up["resolution_reason"] = reason
    up["resolved_at"] = resolved_at
    up["occurrence_count"] = occurrences
    up["recompute_count"] = recomputes
    up["recompute_limit_exceeded"] = (recomputes > t.Recovery.MAX_RECOMPUTE) & (status != RESOLVED)
    up["first_seen_at"] = first_seen
    up["last_seen_at"] = now

    if old is None:
        return up, pd.DataFrame(columns=["dedupe_key", *STATE_COLUMNS])
    in_scope = old["invoice_key"].isin(set(invoice_keys))
    still = old.index.isin(set(up["dedupe_key"]))
    gone = old[in_scope & ~still & (old["status"] != RESOLVED)].copy()
    gone["status"] = RESOLVED
    gone["resolution_reason"] = RECOMPUTE_RESOLVED
    gone["resolved_at"] = now
    gone["recompute_limit_exceeded"] = False
    return up, gone.reset_index()[["dedupe_key", *STATE_COLUMNS]]
