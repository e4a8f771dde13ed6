"""System health report (SPEC §5.6): counts, rates, mismatch histogram, drift, top offenders.

Input frames (built by the caller from the store):
* ``invoices``: ``day`` (date), ``supplier``, ``supplier_id``, ``has_mismatch``, ``mismatch_ratio``,
  ``ocr_suspect``;
* ``incidents``: ``day``, ``supplier``, ``supplier_id``, ``severity``, ``primary_flag``,
  ``action_class``.
Top offenders are grouped by the canonical ``supplier_id`` (one supplier once, however its
invoices print its name), each shown by its most frequent ``supplier`` name (a known supplier's
table name). Rows without an id (stored before ids existed) group by their name.
The current window is the ``window_days`` days ending at ``end_day`` (inclusive), compared with the
same number of days before it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from invoice_assets.domain.arrays import rate

if TYPE_CHECKING:
    from invoice_assets.domain.thresholds import Thresholds

HISTOGRAM_EDGES = (0.0, 0.02, 0.05, 0.10, 0.20, np.inf)
HISTOGRAM_LABELS = ("0-2%", "2-5%", "5-10%", "10-20%", "20%+")
TOP_N = 5


def window_counts(invoices: pd.DataFrame, incidents: pd.DataFrame) -> dict[str, Any]:
    """Counts and rates over one window."""
    total = len(invoices)
    mismatch = int(invoices["has_mismatch"].sum())
    ocr = int(invoices["ocr_suspect"].sum())
    s1 = int((incidents["severity"] == "S1").sum())
    s2 = int((incidents["severity"] == "S2").sum())
    return {
        "total_invoices": total,
        "incident_count": len(incidents),
        "mismatch_count": mismatch,
        "s1_count": s1,
        "s2_count": s2,
        "ocr_suspect_count": ocr,
        "s1_rate": rate(s1, s1 + s2),
        "ocr_suspect_rate": rate(ocr, mismatch),
        "mismatch_rate": rate(mismatch, total),
    }


def mismatch_histogram(ratios: pd.Series) -> dict[str, int]:
    """Mismatch ratios of mismatched invoices in the five fixed buckets (always all five)."""
    values = ratios.dropna().to_numpy(dtype="float64")
    counts, _ = np.histogram(values, bins=np.array(HISTOGRAM_EDGES))
    return dict(zip(HISTOGRAM_LABELS, (int(c) for c in counts), strict=True))


def drift_triggered(
    current_total: int,
    previous_total: int,
    current_count: int,
    previous_count: int,
    current_rate: float,
    previous_rate: float,
    t: Thresholds,
) -> bool:
    """The drift guards: enough sample in the window and in its baseline (the window before;
    without one a first day of data would "drift" from 0 %), a real absolute change, and a rate
    jump."""
    d = t.Drift
    if current_total < d.MIN_SAMPLE or previous_total < d.MIN_SAMPLE:
        return False
    if abs(current_count - previous_count) < d.MIN_ABSOLUTE_DELTA:
        return False
    if previous_rate > 0:
        return current_rate >= d.RATE_MULTIPLIER * previous_rate
    return current_count >= d.MIN_ABSOLUTE_DELTA


DRIFT_METRICS = {
    "S1_RATE_DRIFT": ("s1_count", "s1_rate"),
    "OCR_SUSPECT_DRIFT": ("ocr_suspect_count", "ocr_suspect_rate"),
    "MISMATCH_RATE_DRIFT": ("mismatch_count", "mismatch_rate"),
}


def drift(current: dict[str, Any], previous: dict[str, Any], t: Thresholds) -> dict[str, dict]:
    out = {}
    baseline = previous["total_invoices"] >= t.Drift.MIN_SAMPLE
    for name, (count, rate_key) in DRIFT_METRICS.items():
        out[name] = {
            "triggered": drift_triggered(
                current["total_invoices"],
                previous["total_invoices"],
                current[count],
                previous[count],
                current[rate_key],
                previous[rate_key],
                t,
            ),
            "current_count": current[count],
            "previous_count": previous[count],
            "current_rate": current[rate_key],
            "previous_rate": previous[rate_key],
            "current_total": current["total_invoices"],
            "baseline_total": previous["total_invoices"],
            "has_baseline": baseline,
        }
    return out


def top_offenders(
    invoices: pd.DataFrame, incidents: pd.DataFrame, t: Thresholds
) -> dict[str, list]:
    """Suppliers by mismatch rate (volume-guarded) and by incident count, one entry per
    supplier id."""
    inv_ids, inc_ids = _supplier_ids(invoices), _supplier_ids(incidents)
    shown = _shown_names(
        pd.concat([inv_ids, inc_ids], ignore_index=True),
        pd.concat([invoices["supplier"], incidents["supplier"]], ignore_index=True),
    )
    per = invoices.groupby(inv_ids.to_numpy(), sort=True).agg(
        invoices=("has_mismatch", "size"), mismatches=("has_mismatch", "sum")
    )
    per = per[per["invoices"] >= t.Drift.TOP_OFFENDERS_MIN_INVOICES]
    per = per.assign(mismatch_rate=per["mismatches"] / per["invoices"])
    by_rate = per.sort_values(
        ["mismatch_rate", "invoices"], ascending=[False, False], kind="stable"
    ).head(TOP_N)
    counts = (
        incidents.groupby(inc_ids.to_numpy(), sort=True)
        .size()
        .sort_values(ascending=False, kind="stable")
        .head(TOP_N)
    )
    return {
        "by_rate": [
            {
                "supplier": shown.get(sid, sid),
                "supplier_id": sid,
                "invoices": int(r.invoices),
                "mismatches": int(r.mismatches),
                "mismatch_rate": float(r.mismatch_rate),
            }
            for sid, r in by_rate.iterrows()
        ],
        "by_count": [
            {"supplier": shown.get(sid, sid), "supplier_id": sid, "incidents": int(c)}
            for sid, c in counts.items()
        ],
    }


def _supplier_ids(frame: pd.DataFrame) -> pd.Series:
    """Each row's supplier id (its name where the row has none; null without either)."""
    names = frame["supplier"].to_numpy(dtype=object)
    if "supplier_id" not in frame:
        return pd.Series(names, dtype=object)
    ids = frame["supplier_id"].to_numpy(dtype=object)
    return pd.Series(np.where(pd.isna(ids), names, ids), dtype=object)


def _shown_names(ids: pd.Series, names: pd.Series) -> dict[str, str]:
    """Each supplier id's most frequent name (ties: the first in sort order)."""
    pairs = pd.DataFrame({"id": ids.to_numpy(), "name": names.astype(object).to_numpy()})
    pairs = pairs.dropna()
    if pairs.empty:
        return {}
    counted = pairs.value_counts().reset_index(name="n")
    counted = counted.sort_values(["id", "n", "name"], ascending=[True, False, True])
    return dict(counted.drop_duplicates("id")[["id", "name"]].itertuples(index=False, name=None))


def _calendar_days(day: pd.Series) -> np.ndarray:
    """Each row's calendar day (``datetime64[D]``; NaT when missing) from ISO text, dates or
    timestamps (an aware timestamp counts on its own local day)."""
    moments = pd.to_datetime(day)
    if isinstance(moments.dtype, pd.DatetimeTZDtype):
        moments = moments.dt.tz_localize(None)
    return moments.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")


def system_health_report(
    invoices: pd.DataFrame, incidents: pd.DataFrame, end_day: date, window_days: int, t: Thresholds
) -> dict[str, Any]:
    """The report for the window ending at ``end_day`` versus the window before it."""
    start = end_day - timedelta(days=window_days - 1)
    prev_start = start - timedelta(days=window_days)
    inv_days, inc_days = _calendar_days(invoices["day"]), _calendar_days(incidents["day"])

    def between(frame: pd.DataFrame, days: np.ndarray, lo: date, hi: date) -> pd.DataFrame:
        return frame[(days >= np.datetime64(lo, "D")) & (days <= np.datetime64(hi, "D"))]

    cur_inv = between(invoices, inv_days, start, end_day)
    cur_inc = between(incidents, inc_days, start, end_day)
    prev_inv = between(invoices, inv_days, prev_start, start - timedelta(days=1))
    prev_inc = between(incidents, inc_days, prev_start, start - timedelta(days=1))
    current, previous = window_counts(cur_inv, cur_inc), window_counts(prev_inv, prev_inc)
    mismatch_incidents = cur_inc[cur_inc["primary_flag"] == "INVOICE_TOTAL_MISMATCH"]
    return {
        "window": {"start": start.isoformat(), "end": end_day.isoformat(), "days": window_days},
        "current": current,
        "previous": previous,
        "histogram": mismatch_histogram(
            cur_inv.loc[cur_inv["has_mismatch"].astype(bool), "mismatch_ratio"]
        ),
        "drift": drift(current, previous, t),
        "top_offenders": top_offenders(cur_inv, cur_inc, t),
        "action_classes": {
            str(k): int(v)
            for k, v in mismatch_incidents["action_class"].value_counts().sort_index().items()
        },
    }
