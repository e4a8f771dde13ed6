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
from invoice_assets.domain.mismatch import mismatch_infos

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
    """Incident rows (``INCIDENT_COLUMNS`` plus ``row``) for invoices with an S1/S2 flag.

    Decisions are vectorised; only the per-incident documents (hint, mismatch_info) are built in
    Python, from a few columns, with each distinct hint computed once.
    """
    serious = flags[flags["severity"].isin(INCIDENT_SEVERITIES)]
    if serious.empty:
        return pd.DataFrame(columns=["row", *INCIDENT_COLUMNS])
    flag_rows = serious["row"].to_numpy()  # ordered by (row, priority)
    first = np.r_[True, flag_rows[1:] != flag_rows[:-1]]
    rows = flag_rows[first]
    primary = serious["flag"].to_numpy()[first]
    severity = serious["severity"].to_numpy()[first]
    secondary: dict[int, list[str]] = {}
    for row, flag in zip(
        flag_rows[~first].tolist(), serious["flag"].to_numpy()[~first], strict=True
    ):
        secondary.setdefault(row, []).append(flag)

    def column(frame: pd.DataFrame, name: str) -> np.ndarray:
        return frame[name].to_numpy()[rows]

    action = mismatch_action_class(mismatch.iloc[rows], t)
    keys = column(invoices, "invoice_key")
    facts = pd.DataFrame(
        {
            "has_mismatch": column(mismatch, "has_mismatch"),
            "invoice_total_with_vat_tl": column(invoices, "invoice_total_with_vat_tl"),
            "computed_total_tl": column(breakdown, "computed_total_tl"),
            "mismatch_delta": column(mismatch, "mismatch_delta"),
            "mismatch_ratio": column(mismatch, "mismatch_ratio"),
            "mismatch_severity": column(mismatch, "mismatch_severity"),
            "delta_reason_candidate": column(mismatch, "delta_reason_candidate"),
            "suspect_reason": column(mismatch, "suspect_reason"),
        }
    )
    infos = mismatch_infos(facts)
    reasons = [r if isinstance(r, str) else None for r in facts["delta_reason_candidate"].tolist()]
    confidences = zip(
        column(invoices, "conf_consumption_kwh").tolist(),
        column(invoices, "conf_current_active_unit_price_tl_per_kwh").tolist(),
        column(invoices, "conf_invoice_total_with_vat_tl").tolist(),
        strict=True,
    )
    suppliers = column(invoices, "supplier")
    error_codes = column(invoices, "error_code")
    hints: dict[tuple[str, str, object], dict] = {}
    records = []
    for i, (conf, info, reason) in enumerate(zip(confidences, infos, reasons, strict=True)):
        flag, key = str(primary[i]), str(keys[i])
        base = hints.get((flag, str(action[i]), reason))
        if base is None:
            base = hints[(flag, str(action[i]), reason)] = build_hint(
                flag, str(action[i]), reason, ""
            )
        hint = {
            **base,
            "recommended_checks": list(base["recommended_checks"]),
            "confidence_note": confidence_note(*conf),
        }
        row = int(rows[i])
        records.append(
            (
                row,
                dedupe_key(tenant, key, flag),
                key,
                suppliers[i],
                str(severity[i]),
                flag,
                secondary.get(row, []),
                hint["action_class"],
                hint,
                info,
                error_codes[i] if flag == "EXTRACTION_FAILED" else None,
            )
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
