"""Validation (SPEC §5.1): errors stop pricing, warnings do not.

Beyond the SPEC's rules, fields whose absolute value passes its plausibility bound
(``PLAUSIBLE_MAX``: Validation.MAX_CONSUMPTION_KWH, MAX_DEMAND_QTY, MAX_DEMAND_UNIT_PRICE,
MAX_AMOUNT_TL) are errors ``IMPLAUSIBLE_VALUE``, so the invoice gets VALIDATION_FAILED and is not
priced; CALC_BUG stays reserved for pricing breaking on plausible input.

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

from invoice_assets.domain.arrays import columns_frame
from invoice_assets.domain.records import AMOUNT_FIELDS, KEY_FIELDS

if TYPE_CHECKING:
    from invoice_assets.domain.thresholds import Thresholds

ISSUE_COLUMNS = ("row", "kind", "code", "field", "message")
HARD_STOP = "TOTAL_HARD_STOP"
IMPLAUSIBLE = "IMPLAUSIBLE_VALUE"
# field → (Validation threshold bounding its absolute value, unit shown in the message); the unit
# prices have their own ranges (MIN/MAX_UNIT_PRICE, MIN/MAX_DIST_PRICE).
PLAUSIBLE_MAX: dict[str, tuple[str, str]] = {
    "consumption_kwh": ("MAX_CONSUMPTION_KWH", "kWh"),
    "demand_qty": ("MAX_DEMAND_QTY", "demand units"),
    "demand_unit_price_tl_per_unit": ("MAX_DEMAND_UNIT_PRICE", "TL per demand unit"),
    **{name: ("MAX_AMOUNT_TL", "TL") for name in AMOUNT_FIELDS},
}
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


class _Issues:
    """The issues raised so far, one block of rows per rule. Kind and code are shared by a block,
    so they are spelled once per block and spread when the one frame is built."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.labels: list[tuple[str, str]] = []
        self.fields: list[np.ndarray] = []
        self.messages: list[np.ndarray] = []

    def add(
        self, rows: np.ndarray, kind: str, code: str, field: str | np.ndarray, message: np.ndarray
    ) -> None:
        self.rows.append(rows)
        self.labels.append((kind, code))
        self.fields.append(
            np.full(len(rows), field, dtype=object) if isinstance(field, str) else field
        )
        self.messages.append(message)

    def frame(self) -> pd.DataFrame:
        if not self.rows:
            return _empty()
        block = np.repeat(np.arange(len(self.rows)), [len(r) for r in self.rows])
        kind, code = (
            np.array(column, dtype=object)[block] for column in zip(*self.labels, strict=True)
        )
        return columns_frame(
            {
                "row": np.concatenate(self.rows).astype("int64", copy=False),
                "kind": kind,
                "code": code,
                "field": np.concatenate(self.fields),
                "message": np.concatenate(self.messages),
            }
        )


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
    found = _Issues()

    def add(mask: np.ndarray, kind: str, code: str, field: str, message: _Fmt | str) -> None:
        rows = np.flatnonzero(mask & ok)
        if len(rows):
            text = (
                message.render(rows)
                if isinstance(message, _Fmt)
                else np.full(len(rows), message, dtype=object)
            )
            found.add(rows, kind, code, field, text)

    with np.errstate(invalid="ignore"):
        kwh_missing = ~(kwh > 0).to_numpy()
        price_missing = price.isna().to_numpy()
        total_missing = ~(total > 0).to_numpy()
        no_id = invoices["invoice_no"].isna().to_numpy().copy()
        no_id[no_id] = pd.isna(invoices["ettn"].to_numpy()[no_id])  # only rows without a number
        add(kwh_missing, "error", "MISSING_FIELD", "consumption_kwh", "consumption missing or ≤ 0")
        add(price_missing, "error", "MISSING_FIELD", UNIT_PRICE, "unit price missing")
        add(total_missing, "error", "MISSING_FIELD", TOTAL, "invoice total missing or ≤ 0")
        add(no_id, "error", "MISSING_FIELD", "invoice_no", "neither ettn nor invoice_no")
        # No billing month to price (nothing to derive it from): an extraction gap, so it is a
        # missing field (MISSING_FIELDS, extraction owner) and pricing never looks for a price.
        no_period = invoices["invoice_period"].isna().to_numpy().copy()
        no_period[no_period] = pd.isna(invoices["invoice_date"].to_numpy()[no_period])
        add(
            no_period,
            "error",
            "MISSING_FIELD",
            "invoice_period",
            "neither invoice_period nor invoice_date to derive it from",
        )

        low_price = (price < v.MIN_UNIT_PRICE).to_numpy()
        high_price = (price > v.MAX_UNIT_PRICE).to_numpy()
        add(
            low_price,
            "error",
            "UNIT_PRICE_OUT_OF_RANGE",
            UNIT_PRICE,
            _Fmt(price, "{v:g} TL/kWh below range: probably kr/kWh"),
        )
        add(
            high_price,
            "error",
            "UNIT_PRICE_OUT_OF_RANGE",
            UNIT_PRICE,
            _Fmt(price, "{v:g} TL/kWh above range: probably TL/MWh"),
        )
        dist_out = ((dist < v.MIN_DIST_PRICE) | (dist > v.MAX_DIST_PRICE)).to_numpy()
        add(
            dist_out,
            "error",
            "DIST_PRICE_OUT_OF_RANGE",
            DIST_PRICE,
            _Fmt(dist, "{v:g} TL/kWh outside the distribution price range"),
        )

        # Absurd magnitudes (1e308 kWh) are bad input, not a pricing bug: an error here keeps
        # them out of pricing, where they would overflow into CALC_BUG.
        for name, (key, unit) in PLAUSIBLE_MAX.items():
            limit = getattr(v, key)
            add(
                (invoices[name].abs() > limit).to_numpy(),
                "error",
                IMPLAUSIBLE,
                name,
                _Fmt(invoices[name], f"{{v:g}} {unit} is beyond the plausible {limit:g} ({key})"),
            )

        hard_stop = (100.0 * mismatch["mismatch_ratio"] >= v.HARD_STOP_DELTA).to_numpy()
        add(
            hard_stop,
            "error",
            HARD_STOP,
            TOTAL,
            _Fmt(100.0 * mismatch["mismatch_ratio"], "total differs from its parts by {v:.1f} %"),
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
                _Fmt(invoices[f"conf_{name}"], "confidence {v:.2f} below threshold"),
            )

        energy = invoices["energy_total_tl"]
        cross = (kwh * price - energy).abs() / energy
        add(
            (energy > 0).to_numpy() & (100.0 * cross > v.ENERGY_CROSSCHECK_TOLERANCE).to_numpy(),
            "warning",
            "ENERGY_CROSSCHECK",
            "energy_total_tl",
            _Fmt(100.0 * cross, "kWh × unit price differs from the energy total by {v:.1f} %"),
        )

        add(
            (invoices["demand_qty"] > 0).to_numpy()
            & invoices["demand_unit_price_tl_per_unit"].isna().to_numpy(),
            "warning",
            "DEMAND_PRICE_MISSING",
            "demand_unit_price_tl_per_unit",
            "demand quantity without a demand unit price",
        )

    _line_issues(found, invoices, line_items, ok, t)
    issues = found.frame()
    return _summarise(invoices, issues, ok), issues


def _line_issues(
    found: _Issues, invoices: pd.DataFrame, lines: pd.DataFrame, ok: np.ndarray, t: Thresholds
) -> None:
    if lines.empty:
        return
    with np.errstate(all="ignore"):
        amount = lines["amount_tl"].to_numpy()
        gap = np.abs(lines["qty"].to_numpy() * lines["unit_price"].to_numpy() - amount) / np.abs(
            amount
        )
        bad = (np.abs(amount) > 0) & (100.0 * gap > t.Validation.LINE_CONSISTENCY_TOLERANCE)
    idx = np.flatnonzero(bad)  # only the inconsistent lines are matched to their invoice
    if len(idx) == 0:
        return
    # Keys are not unique when identical bytes arrive twice (two empty files share a sha256):
    # a line belongs to the first ok invoice with its key (failed rows have no line items).
    line_keys = lines["invoice_key"].to_numpy()[idx]
    keys = invoices["invoice_key"]
    candidates = np.flatnonzero(keys.isin(set(line_keys.tolist())).to_numpy() & ok)
    owners = pd.Series(candidates, index=keys.to_numpy()[candidates])
    owners = owners[~owners.index.duplicated(keep="first")]
    owner = owners.reindex(line_keys).to_numpy(dtype="float64", na_value=np.nan)
    owned = ~np.isnan(owner)
    idx = idx[owned]
    if len(idx) == 0:
        return
    found.add(
        owner[owned].astype("int64"),
        "warning",
        "LINE_INCONSISTENT",
        np.array([f"line_items[{n}]" for n in lines["line"].to_numpy()[idx]], dtype=object),
        np.array(
            [
                f"{label}: qty × unit price differs from amount by {100 * g:.1f} %"
                for label, g in zip(lines["label"].to_numpy()[idx], gap[idx], strict=True)
            ],
            dtype=object,
        ),
    )


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="int64" if c == "row" else "object") for c in ISSUE_COLUMNS}
    )


def _summarise(invoices: pd.DataFrame, issues: pd.DataFrame, ok: np.ndarray) -> pd.DataFrame:
    n = len(invoices)
    rows = issues["row"].to_numpy(dtype="int64")
    kind = issues["kind"].to_numpy(dtype=object)
    code = issues["code"].to_numpy(dtype=object)

    def rows_where(mask: np.ndarray) -> np.ndarray:
        out = np.zeros(n, dtype=bool)
        out[rows[mask]] = True
        return out

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(rows[mask], minlength=n).astype("int64", copy=False)

    is_error = kind == "error"
    missing = is_error & (code == "MISSING_FIELD")
    consumption = issues["field"].to_numpy(dtype=object) == "consumption_kwh"
    hard_stop = code == HARD_STOP
    return columns_frame(
        {
            "is_ready_for_pricing": ok & ~rows_where(is_error),
            "error_count": count(is_error),
            "warning_count": count(kind == "warning"),
            "consumption_missing": rows_where(missing & consumption),
            "other_fields_missing": rows_where(missing & ~consumption),
            "has_validation_errors": rows_where(is_error & ~missing & ~hard_stop),
            "hard_stop": rows_where(hard_stop),
            "has_warnings": rows_where(~is_error),
            "low_confidence": rows_where(code == "LOW_CONFIDENCE"),
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
