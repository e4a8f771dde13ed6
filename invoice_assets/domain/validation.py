"""Validation (SPEC §5.1): errors stop pricing, warnings do not.

``validate_invoices`` returns one row per invoice (readiness and the facts quality scoring needs)
and a long frame of issues ``(row, kind, code, field, message)``; ``issues_by_invoice`` folds the
long frame into the ``errors[]`` / ``warnings[]`` lists stored per invoice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from invoice_assets.domain.records import KEY_FIELDS

if TYPE_CHECKING:
    from resources.thresholds import Thresholds

ISSUE_COLUMNS = ("row", "kind", "code", "field", "message")
MISSING_CODES = frozenset({"MISSING_FIELD"})
HARD_STOP = "TOTAL_HARD_STOP"
UNIT_PRICE = "current_active_unit_price_tl_per_kwh"
DIST_PRICE = "distribution_unit_price_tl_per_kwh"
TOTAL = "invoice_total_with_vat_tl"


@dataclass(frozen=True)
class _Fmt:
    """A message template filled in only for the rows that raise the issue (issues are sparse;
    formatting every row would dominate validation time)."""

    values: pd.Series
    template: str

    def render(self, rows: np.ndarray) -> np.ndarray:
        codes, distinct = pd.factorize(self.values.to_numpy()[rows], use_na_sentinel=False)
        texts = [self.template.format(v=v) for v in distinct.tolist()]  # once per value
        return np.array(texts, dtype=object)[codes]


def _issues(
    mask: np.ndarray, kind: str, code: str, field: str, message: _Fmt | str
) -> pd.DataFrame:
    rows = np.flatnonzero(mask)
    if isinstance(message, _Fmt):
        text = message.render(rows)
    else:
        text = np.full(len(rows), message, dtype=object)
    return pd.DataFrame({"row": rows, "kind": kind, "code": code, "field": field, "message": text})


def _fmt(values: pd.Series, template: str) -> _Fmt:
    return _Fmt(values, template)


def validate_invoices(
    invoices: pd.DataFrame,
    line_items: pd.DataFrame,
    mismatch: pd.DataFrame,
    t: Thresholds,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-invoice readiness and the long issue frame; failed extractions get no issues."""
    v = t.Validation
    ok = (invoices["status"] == "ok").to_numpy()
    kwh = invoices["consumption_kwh"]
    price = invoices[UNIT_PRICE]
    dist = invoices[DIST_PRICE]
    total = invoices[TOTAL]
    parts: list[pd.DataFrame] = []

    def add(mask: np.ndarray, kind: str, code: str, field: str, message: _Fmt | str) -> None:
        mask = mask & ok
        if mask.any():
            parts.append(_issues(mask, kind, code, field, message))

    with np.errstate(invalid="ignore"):
        kwh_missing = ~(kwh > 0).to_numpy()
        price_missing = price.isna().to_numpy()
        total_missing = ~(total > 0).to_numpy()
        no_id = invoices["invoice_no"].isna().to_numpy().copy()
        no_id[no_id] = invoices["ettn"].isna().to_numpy()[no_id]
        add(kwh_missing, "error", "MISSING_FIELD", "consumption_kwh", "consumption missing or ≤ 0")
        add(price_missing, "error", "MISSING_FIELD", UNIT_PRICE, "unit price missing")
        add(total_missing, "error", "MISSING_FIELD", TOTAL, "invoice total missing or ≤ 0")
        add(no_id, "error", "MISSING_FIELD", "invoice_no", "neither ettn nor invoice_no")

        low_price = (price < v.MIN_UNIT_PRICE).to_numpy()
        high_price = (price > v.MAX_UNIT_PRICE).to_numpy()
        add(
            low_price,
            "error",
            "UNIT_PRICE_OUT_OF_RANGE",
            UNIT_PRICE,
            _fmt(price, "{v:g} TL/kWh below range: probably kr/kWh"),
        )
        add(
            high_price,
            "error",
            "UNIT_PRICE_OUT_OF_RANGE",
            UNIT_PRICE,
            _fmt(price, "{v:g} TL/kWh above range: probably TL/MWh"),
        )
        dist_out = ((dist < v.MIN_DIST_PRICE) | (dist > v.MAX_DIST_PRICE)).to_numpy()
        add(
            dist_out,
            "error",
            "DIST_PRICE_OUT_OF_RANGE",
            DIST_PRICE,
            _fmt(dist, "{v:g} TL/kWh outside the distribution price range"),
        )

        hard_stop = (100.0 * mismatch["mismatch_ratio"] >= v.HARD_STOP_DELTA).to_numpy()
        add(
            hard_stop,
            "error",
            HARD_STOP,
            TOTAL,
            _fmt(100.0 * mismatch["mismatch_ratio"], "total differs from its parts by {v:.1f} %"),
        )

        for name in KEY_FIELDS:
            low = (invoices[f"conf_{name}"] < v.LOW_CONFIDENCE).to_numpy() & invoices[
                name
            ].notna().to_numpy()
            add(
                low,
                "warning",
                "LOW_CONFIDENCE",
                name,
                _fmt(invoices[f"conf_{name}"], "confidence {v:.2f} below threshold"),
            )

        energy = invoices["energy_total_tl"]
        cross = (kwh * price - energy).abs() / energy
        add(
            (energy > 0).to_numpy() & (100.0 * cross > v.ENERGY_CROSSCHECK_TOLERANCE).to_numpy(),
            "warning",
            "ENERGY_CROSSCHECK",
            "energy_total_tl",
            _fmt(100.0 * cross, "kWh × unit price differs from the energy total by {v:.1f} %"),
        )

        add(
            (invoices["demand_qty"] > 0).to_numpy()
            & invoices["demand_unit_price_tl_per_unit"].isna().to_numpy(),
            "warning",
            "DEMAND_PRICE_MISSING",
            "demand_unit_price_tl_per_unit",
            "demand quantity without a demand unit price",
        )

    parts.append(_line_issues(invoices, line_items, ok, t))
    issues = (
        pd.concat([p for p in parts if len(p)], ignore_index=True)
        if any(len(p) for p in parts)
        else _empty()
    )
    return _summarise(invoices, issues, ok), issues


def _line_issues(
    invoices: pd.DataFrame, lines: pd.DataFrame, ok: np.ndarray, t: Thresholds
) -> pd.DataFrame:
    if lines.empty:
        return _empty()
    with np.errstate(all="ignore"):
        amount = lines["amount_tl"].to_numpy()
        gap = np.abs(lines["qty"].to_numpy() * lines["unit_price"].to_numpy() - amount) / np.abs(
            amount
        )
        bad = (np.abs(amount) > 0) & (100.0 * gap > t.Validation.LINE_CONSISTENCY_TOLERANCE)
    idx = np.flatnonzero(bad)  # only the inconsistent lines are matched to their invoice
    if len(idx) == 0:
        return _empty()
    # Keys are not unique when identical bytes arrive twice (two empty files share a sha256):
    # a line belongs to the first ok invoice with its key (failed rows have no line items).
    line_keys = lines["invoice_key"].to_numpy()[idx]
    keys = invoices["invoice_key"]
    candidates = np.flatnonzero(keys.isin(set(line_keys.tolist())).to_numpy() & ok)
    owners = pd.Series(candidates, index=keys.to_numpy()[candidates])
    owners = owners[~owners.index.duplicated(keep="first")]
    found = owners.reindex(line_keys).to_numpy(dtype="float64", na_value=np.nan)
    owned = ~np.isnan(found)
    idx = idx[owned]
    if len(idx) == 0:
        return _empty()
    return pd.DataFrame(
        {
            "row": found[owned].astype("int64"),
            "kind": "warning",
            "code": "LINE_INCONSISTENT",
            "field": [f"line_items[{n}]" for n in lines["line"].to_numpy()[idx]],
            "message": [
                f"{label}: qty × unit price differs from amount by {100 * g:.1f} %"
                for label, g in zip(lines["label"].to_numpy()[idx], gap[idx], strict=True)
            ],
        }
    )


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="int64" if c == "row" else "object") for c in ISSUE_COLUMNS}
    )


def _summarise(invoices: pd.DataFrame, issues: pd.DataFrame, ok: np.ndarray) -> pd.DataFrame:
    n = len(invoices)

    def rows_where(mask: pd.Series) -> np.ndarray:
        out = np.zeros(n, dtype=bool)
        out[issues.loc[mask, "row"].to_numpy()] = True
        return out

    is_error = issues["kind"] == "error"
    missing = is_error & (issues["code"] == "MISSING_FIELD")
    consumption_missing = rows_where(missing & (issues["field"] == "consumption_kwh"))
    other_missing = rows_where(missing & (issues["field"] != "consumption_kwh"))
    other_errors = rows_where(is_error & ~issues["code"].isin([*MISSING_CODES, HARD_STOP]))
    any_error = rows_where(is_error)
    warnings = rows_where(~is_error)
    low_conf = rows_where(issues["code"] == "LOW_CONFIDENCE")
    counts = issues.groupby(["row", "kind"]).size().unstack(fill_value=0) if len(issues) else None

    def count(kind: str) -> np.ndarray:
        if counts is None or kind not in counts:
            return np.zeros(n, dtype="int64")
        return counts[kind].reindex(range(n), fill_value=0).to_numpy()

    return pd.DataFrame(
        {
            "is_ready_for_pricing": ok & ~any_error,
            "error_count": count("error"),
            "warning_count": count("warning"),
            "consumption_missing": consumption_missing,
            "other_fields_missing": other_missing,
            "has_validation_errors": other_errors,
            "hard_stop": rows_where(issues["code"] == HARD_STOP),
            "has_warnings": warnings,
            "low_confidence": low_conf,
        },
        index=invoices.index,
    )


def _grouped(issues: pd.DataFrame) -> tuple[dict[int, list[dict]], dict[int, list[dict]]]:
    """The issue items of the rows that have any, errors and warnings apart, in issue order."""
    errors: dict[int, list[dict]] = {}
    warnings: dict[int, list[dict]] = {}
    for row, kind, code, field, message in issues.itertuples(index=False, name=None):
        (errors if kind == "error" else warnings).setdefault(row, []).append(
            {"code": code, "field": field, "message": message}
        )
    return errors, warnings


def issues_by_invoice(issues: pd.DataFrame, n: int) -> tuple[list[list[dict]], list[list[dict]]]:
    """``errors[]`` and ``warnings[]`` per invoice row, each item ``{code, field, message}``."""
    errors, warnings = _grouped(issues)
    return (
        [errors.get(row, []) for row in range(n)],
        [warnings.get(row, []) for row in range(n)],
    )


def issues_as_json(issues: pd.DataFrame, n: int) -> tuple[list[str], list[str]]:
    """``issues_by_invoice`` as JSON text per row (what the store keeps); only rows with issues
    are serialised, the others share the text ``[]``."""

    def texts(by_row: dict[int, list[dict]]) -> list[str]:
        out = ["[]"] * n
        for row, items in by_row.items():
            out[row] = json.dumps(items, ensure_ascii=False)
        return out

    errors, warnings = _grouped(issues)
    return texts(errors), texts(warnings)
