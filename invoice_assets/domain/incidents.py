"""Incidents (SPEC §5.5): one per invoice with an S1/S2 flag, deduplicated across reruns.

``build_incidents`` turns the flag frame into incident rows with their action hint and
mismatch_info; ``reconcile_incidents`` decides, purely from the stored and the recomputed
incidents, what a rerun changes: occurrence counts, recompute limits, reopening, and resolving
incidents whose flags disappeared (``recompute_resolved``). The decisions come from a snapshot
of the stored state; the store applies each status change as a compare-and-set on the status the
snapshot saw and never writes status, resolution or feedback otherwise, so a rerun cannot undo an
operator's write made meanwhile. ``allowed_transition`` is the operators' state machine.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from invoice_assets.domain.arrays import (
    columns_frame,
    first_rows,
    row_codes,
    text_or_none,
)
from invoice_assets.domain.flags import INCIDENT_SEVERITIES
from invoice_assets.domain.hints import build_hint, confidence_note, mismatch_action_class
from invoice_assets.domain.mismatch import mismatch_infos
from invoice_assets.kernel.memory import collector_paused

if TYPE_CHECKING:
    from invoice_assets.domain.thresholds import Thresholds

DEFAULT_TENANT = "default"  # one tenant today; dedupe keys and alert identities name it
OPEN, ACK, RESOLVED = "OPEN", "ACK", "RESOLVED"
STATUSES = (OPEN, ACK, RESOLVED)
RECOMPUTE_RESOLVED = "recompute_resolved"
MANUAL_RESOLVED = "manual_resolved"
INCIDENT_COLUMNS = (
    "dedupe_key",
    "invoice_key",
    "supplier",
    "supplier_id",
    "invoice_no",
    "invoice_period",
    "source_file",
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


# What build_incidents reads of an invoice's computed breakdown and total-mismatch facts (one
# frame: the ``validations`` stage stores both).
INCIDENT_FACTS = (
    "computed_total_tl",
    "has_mismatch",
    "mismatch_delta",
    "mismatch_ratio",
    "mismatch_severity",
    "delta_reason_candidate",
    "suspect_reason",
)


def build_incidents(
    invoices: pd.DataFrame,
    facts: pd.DataFrame,
    flags: pd.DataFrame,
    t: Thresholds,
    tenant: str,
) -> pd.DataFrame:
    """Incident rows (``INCIDENT_COLUMNS`` plus ``row``) for invoices with an S1/S2 flag;
    ``facts`` holds ``INCIDENT_FACTS`` row-aligned with ``invoices``.

    Decisions are vectorised; the per-incident documents are assembled column by column, each
    distinct hint and confidence note built once, so the per-incident Python work is only
    putting the pieces of one document together.
    """
    serious = flags[flags["severity"].isin(INCIDENT_SEVERITIES)]
    if serious.empty:
        return pd.DataFrame(columns=["row", *INCIDENT_COLUMNS])
    with collector_paused():
        return _incident_rows(invoices, facts, serious, t, tenant)


def _incident_rows(
    invoices: pd.DataFrame,
    mismatch: pd.DataFrame,
    serious: pd.DataFrame,
    t: Thresholds,
    tenant: str,
) -> pd.DataFrame:
    flag_rows = serious["row"].to_numpy()  # ordered by (row, priority)
    flag_names = serious["flag"].to_numpy()
    first = np.flatnonzero(np.r_[True, flag_rows[1:] != flag_rows[:-1]])
    rows = flag_rows[first]
    primary = flag_names[first]
    all_flags = flag_names.tolist()
    ends = np.r_[first[1:], len(all_flags)].tolist()
    secondary = [all_flags[s + 1 : e] for s, e in zip(first.tolist(), ends, strict=True)]

    def column(frame: pd.DataFrame, name: str) -> np.ndarray:
        return frame[name].to_numpy()[rows]

    action = mismatch_action_class(mismatch.iloc[rows], t)
    keys = column(invoices, "invoice_key").tolist()
    facts = columns_frame(
        {
            "has_mismatch": column(mismatch, "has_mismatch"),
            "invoice_total_with_vat_tl": column(invoices, "invoice_total_with_vat_tl"),
            "computed_total_tl": column(mismatch, "computed_total_tl"),
            "mismatch_delta": column(mismatch, "mismatch_delta"),
            "mismatch_ratio": column(mismatch, "mismatch_ratio"),
            "mismatch_severity": column(mismatch, "mismatch_severity"),
            "delta_reason_candidate": column(mismatch, "delta_reason_candidate"),
            "suspect_reason": column(mismatch, "suspect_reason"),
        }
    )
    hints, action_classes = _hints(
        primary, action, facts["delta_reason_candidate"].to_numpy(), invoices, rows
    )
    error_codes = np.full(len(rows), None, dtype=object)
    failed = primary == "EXTRACTION_FAILED"
    error_codes[failed] = column(invoices, "error_code")[failed]
    flag_list = primary.tolist()
    return columns_frame(
        {
            "row": rows.astype("int64"),
            "dedupe_key": [dedupe_key(tenant, k, f) for k, f in zip(keys, flag_list, strict=True)],
            "invoice_key": keys,
            "supplier": column(invoices, "supplier").astype(object),
            "supplier_id": column(invoices, "supplier_id").astype(object),
            "invoice_no": column(invoices, "invoice_no").astype(object),
            "invoice_period": np.asarray(column(invoices, "invoice_period"), dtype=object),
            "source_file": column(invoices, "source_file").astype(object),
            "severity": serious["severity"].to_numpy()[first].astype(object),
            "primary_flag": primary.astype(object),
            "secondary_flags": secondary,
            "action_class": action_classes,
            "action_hint": hints,
            "mismatch_info": mismatch_infos(facts),
            "error_code": error_codes,
        }
    )


def _hints(
    primary: np.ndarray,
    action: np.ndarray,
    reasons: np.ndarray,
    invoices: pd.DataFrame,
    rows: np.ndarray,
) -> tuple[list[dict], np.ndarray]:
    """The action_hint document of each incident and its action class: each distinct (flag,
    action, reason) hint and each distinct confidence note is built once, then every incident
    gets its own copy."""
    combo_codes = row_codes([primary, action, reasons])
    bases = [
        build_hint(str(primary[i]), str(action[i]), text_or_none(reasons[i]), "")
        for i in first_rows(combo_codes).tolist()
    ]
    confidences = [
        invoices[name].to_numpy(dtype="float64")[rows]
        for name in (
            "conf_consumption_kwh",
            "conf_current_active_unit_price_tl_per_kwh",
            "conf_invoice_total_with_vat_tl",
        )
    ]
    note_codes = row_codes(confidences)
    notes = [
        confidence_note(*(float(c[i]) for c in confidences))
        for i in first_rows(note_codes).tolist()
    ]
    docs = [
        {
            **bases[c],
            "recommended_checks": list(bases[c]["recommended_checks"]),
            "confidence_note": notes[n],
        }
        for c, n in zip(combo_codes.tolist(), note_codes.tolist(), strict=True)
    ]
    return docs, np.array([b["action_class"] for b in bases], dtype=object)[combo_codes]


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


def past_recompute_limit(recompute_count: Any, status: Any, max_recompute: float) -> Any:
    """Reprocessed more than MAX_RECOMPUTE times and still unresolved (SPEC §5.5).

    Written with operators only, so the same rule applies to arrays here and to the store's
    column expressions, where the count is incremented in SQL.
    """
    return (recompute_count > max_recompute) & (status != RESOLVED)


def reconcile_incidents(
    existing: pd.DataFrame,
    computed: pd.DataFrame,
    invoice_keys: pd.Series,
    now: pd.Timestamp,
    t: Thresholds,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What a (re)computation changes, decided from a snapshot of the stored state.

    ``existing`` holds the stored incidents of the invoices in scope (``dedupe_key``,
    ``invoice_key``, ``STATE_COLUMNS``, optionally ``feedback_at`` and, when known, their
    ``day``). Returns ``(upserts, resolved)``: ``upserts`` are the computed incidents with their
    state as the snapshot predicts it, and ``reopen`` where a ``recompute_resolved`` incident
    without feedback comes back; ``resolved`` are stored unresolved incidents of invoices in
    scope whose flags disappeared, with their state now RESOLVED / recompute_resolved and
    ``expected_status`` (the snapshot's status).

    The snapshot may be stale by the time it is written (an operator resolves meanwhile, a
    second run writes first): the store therefore applies each status change as a
    compare-and-set on the snapshot's status, increments the counters in SQL, and writes the
    predicted status only for new incidents.

    An incident belongs to the day it was first raised: when ``computed`` has a ``day`` and a
    stored incident belongs to another day, the upsert keeps that day and is marked
    ``re_arrival`` (the store then updates only what a sighting changes: last seen, the counters
    and the compare-and-set reopen, never its day or content), so no other day's list or
    figures change.
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
    reopen = np.zeros(n, dtype=bool)
    days = up["day"].to_numpy(dtype=object).copy() if "day" in up else None
    re_arrival = np.zeros(n, dtype=bool)
    if old is not None and n:
        found = old.reindex(up["dedupe_key"])
        seen = found["status"].notna().to_numpy()
        prev_status = found["status"].to_numpy()
        prev_reason = found["resolution_reason"].to_numpy()
        no_feedback = (
            found["feedback_at"].isna().to_numpy() if "feedback_at" in found else np.ones(n, bool)
        )
        # an operator's feedback on a recompute resolution confirms it: the pipeline keeps it
        reopen = (
            seen & (prev_status == RESOLVED) & (prev_reason == RECOMPUTE_RESOLVED) & no_feedback
        )
        keep = seen & ~reopen
        status[keep] = prev_status[keep]
        reason[keep] = prev_reason[keep]
        resolved_at[keep] = found["resolved_at"].to_numpy()[keep]
        occurrences[seen] = found["occurrence_count"].to_numpy()[seen].astype("int64") + 1
        prev_recomputes = found["recompute_count"].fillna(0).to_numpy().astype("int64")
        unresolved = seen & (prev_status != RESOLVED)
        recomputes[seen] = prev_recomputes[seen] + unresolved[seen]
        first_seen[seen] = found["first_seen_at"].to_numpy()[seen]
        if days is not None and "day" in found:
            first_day = found["day"].to_numpy(dtype=object)
            re_arrival = seen & (first_day != days)
            days[re_arrival] = first_day[re_arrival]
    up["status"] = status
    up["resolution_reason"] = reason
    up["resolved_at"] = resolved_at
    up["occurrence_count"] = occurrences
    up["recompute_count"] = recomputes
    up["recompute_limit_exceeded"] = past_recompute_limit(
        recomputes, status, t.Recovery.MAX_RECOMPUTE
    )
    up["first_seen_at"] = first_seen
    up["last_seen_at"] = now
    up["reopen"] = reopen
    up["re_arrival"] = re_arrival
    if days is not None:
        up["day"] = days

    resolved_columns = ["dedupe_key", *STATE_COLUMNS, "expected_status"]
    if old is None:
        return up, pd.DataFrame(columns=resolved_columns)
    in_scope = old["invoice_key"].isin(set(invoice_keys))
    still = old.index.isin(set(up["dedupe_key"]))
    gone = old[in_scope & ~still & (old["status"] != RESOLVED)].copy()
    gone["expected_status"] = gone["status"]
    gone["status"] = RESOLVED
    gone["resolution_reason"] = RECOMPUTE_RESOLVED
    gone["resolved_at"] = now
    gone["recompute_limit_exceeded"] = False
    return up, gone.reset_index()[resolved_columns]


def re_arrivals(existing: pd.DataFrame, day: str) -> int:
    """How many of a day's invoices arrived again: invoices whose stored incident (``existing``
    as given to ``reconcile_incidents``) belongs to another day. Counted in that day's figures
    (and, from the store, in the run summary); the incident itself stays where it is."""
    if existing.empty or "day" not in existing:
        return 0
    return int(existing.loc[existing["day"] != day, "invoice_key"].nunique())
