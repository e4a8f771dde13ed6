"""A straightforward per-invoice Python loop applying the rules of SPEC §5.1–§5.5.

The seed's original style: one dict per invoice, one function call per invoice, plain ``if``
statements, line items grouped by invoice key in a dict. It exists only as the yardstick of
``bench.domain_throughput`` (the vectorised ``invoice_assets.domain.pipeline.evaluate`` must agree
with it and beat it), so it mirrors the vectorised decisions as faithfully as a loop reasonably
can: breakdown (§5.2 evidence), mismatch (§5.3), validation (§5.1), pricing flags (§5.2), flags
and score (§5.4), incident with primary flag, hint, dedupe key and mismatch_info (§5.5).

Thresholds come from the live ``Thresholds`` object, the catalogue, hints and the §5.3 rule
parameters from the domain modules (data, not rules), so a threshold change moves both
implementations together.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from bench.loop_context import Context
from invoice_assets.domain.flags import CATALOGUE
from invoice_assets.domain.hints import build_hint, confidence_note
from invoice_assets.domain.incidents import dedupe_key
from invoice_assets.domain.market import TARIFF_KEYS
from invoice_assets.domain.mismatch import (
    LINE_ITEM_MISSING_SHARE,
    LOCALE_BAND,
    LOCALE_SCALES,
    MIN_DENOMINATOR_TL,
    VAT_BAND,
)
from invoice_assets.domain.validation import PLAUSIBLE_MAX

if TYPE_CHECKING:
    from invoice_assets.domain.market import MarketData
    from invoice_assets.domain.thresholds import Thresholds

KEY_FIELDS = (
    "consumption_kwh",
    "current_active_unit_price_tl_per_kwh",
    "invoice_total_with_vat_tl",
)
NAN = math.nan
SERIOUS = ("S1", "S2")


def _f(value: Any) -> float:
    """A number, NaN for missing (the same convention as the frames)."""
    if value is None:
        return NAN
    return float(value)


def evaluate_invoice(
    inv: Mapping[str, Any], lines: list[Mapping[str, Any]], ctx: Context, tenant: str
) -> dict[str, Any]:
    """Every decision for one invoice: flags, score, grade and the incident (or None)."""
    t = ctx.t
    v, m = t.Validation, t.Mismatch
    ok = inv["status"] == "ok"
    kwh = _f(inv["consumption_kwh"])
    price = _f(inv["current_active_unit_price_tl_per_kwh"])
    dist = _f(inv["distribution_unit_price_tl_per_kwh"])
    total = _f(inv["invoice_total_with_vat_tl"])
    energy_tl = _f(inv["energy_total_tl"])
    qty = _f(inv["demand_qty"])
    demand_price = _f(inv["demand_unit_price_tl_per_unit"])
    btv_rate, vat_rate = ctx.rates(inv["tariff_group"])

    # -- breakdown: what the printed parts add up to ------------------------------------------
    energy = energy_tl if not math.isnan(energy_tl) else kwh * price
    dist_tl = _f(inv["distribution_total_tl"])
    if math.isnan(dist_tl):
        dist_tl = kwh * (0.0 if math.isnan(dist) else dist)
    demand = qty * demand_price
    if math.isnan(demand):
        demand = 0.0
    btv = _f(inv["btv_tl"])
    if math.isnan(btv):
        btv = energy * btv_rate
    subtotal = energy + dist_tl + demand + btv
    vat = _f(inv["vat_tl"])
    if math.isnan(vat):
        vat = subtotal * vat_rate
    computed = subtotal + vat

    # -- mismatch (§5.3) ----------------------------------------------------------------------
    evaluated = math.isfinite(total) and math.isfinite(computed) and total > 0
    has_mismatch = False
    severity = reason = suspect = None
    delta = ratio = NAN
    if evaluated:
        delta = abs(total - computed)
        ratio = delta / max(total, MIN_DENOMINATOR_TL)
        rounding = delta < m.ROUNDING_DELTA and ratio < m.ROUNDING_RATIO
        has_mismatch = not rounding and (ratio >= m.RATIO or delta >= m.ABSOLUTE)
        if has_mismatch:
            severe = ratio >= m.SEVERE_RATIO and delta >= m.SEVERE_ABSOLUTE
            severity = "S1" if severe else "S2"
        scale = math.inf if computed == 0 else total / computed
        locale = any(abs(scale / f - 1.0) <= LOCALE_BAND for f in LOCALE_SCALES)
        vat_slip = vat > 0 and abs(delta - vat) <= VAT_BAND * vat
        lowest = min(inv[f"conf_{name}"] for name in KEY_FIELDS)
        if has_mismatch and (lowest < v.LOW_CONFIDENCE or locale):
            suspect = "OCR_LOCALE_SUSPECT"
        if rounding:
            reason = "ROUNDING"
        elif not has_mismatch:
            reason = "EXPLAINABLE_ADJUSTMENT"
        elif locale:
            reason = "LOCALE_SCALE"
        elif vat_slip:
            reason = "VAT_CALCULATION"
        elif ratio > LINE_ITEM_MISSING_SHARE:
            reason = "LINE_ITEM_MISSING"
        elif delta < m.SEVERE_ABSOLUTE:
            reason = "ADJUSTMENT"
        else:
            reason = "UNKNOWN"

    # -- validation (§5.1) --------------------------------------------------------------------
    errors: list[dict[str, str]] = []
    warnings: list[dict[str, str]] = []
    if ok:
        price_field = "current_active_unit_price_tl_per_kwh"
        if not kwh > 0:
            errors.append(_issue("MISSING_FIELD", "consumption_kwh", "consumption missing or ≤ 0"))
        if math.isnan(price):
            errors.append(_issue("MISSING_FIELD", price_field, "unit price missing"))
        if not total > 0:
            errors.append(
                _issue("MISSING_FIELD", "invoice_total_with_vat_tl", "invoice total missing or ≤ 0")
            )
        if inv["ettn"] is None and inv["invoice_no"] is None:
            errors.append(_issue("MISSING_FIELD", "invoice_no", "neither ettn nor invoice_no"))
        if inv["invoice_period"] is None and inv["invoice_date"] is None:
            errors.append(
                _issue(
                    "MISSING_FIELD",
                    "invoice_period",
                    "neither invoice_period nor invoice_date to derive it from",
                )
            )
        if price < v.MIN_UNIT_PRICE:
            errors.append(
                _issue(
                    "UNIT_PRICE_OUT_OF_RANGE",
                    price_field,
                    f"{price:g} TL/kWh below range: probably kr/kWh",
                )
            )
        if price > v.MAX_UNIT_PRICE:
            errors.append(
                _issue(
                    "UNIT_PRICE_OUT_OF_RANGE",
                    price_field,
                    f"{price:g} TL/kWh above range: probably TL/MWh",
                )
            )
        if dist < v.MIN_DIST_PRICE or dist > v.MAX_DIST_PRICE:
            errors.append(
                _issue(
                    "DIST_PRICE_OUT_OF_RANGE",
                    "distribution_unit_price_tl_per_kwh",
                    f"{dist:g} TL/kWh outside the distribution price range",
                )
            )
        for name, (key, unit) in PLAUSIBLE_MAX.items():
            value, limit = _f(inv[name]), getattr(v, key)
            if abs(value) > limit:
                errors.append(
                    _issue(
                        "IMPLAUSIBLE_VALUE",
                        name,
                        f"{value:g} {unit} is beyond the plausible {limit:g} ({key})",
                    )
                )
        if evaluated and 100.0 * ratio >= v.HARD_STOP_DELTA:
            errors.append(
                _issue(
                    "TOTAL_HARD_STOP",
                    "invoice_total_with_vat_tl",
                    f"total differs from its parts by {100.0 * ratio:.1f} %",
                )
            )
        for name in KEY_FIELDS:
            confidence = inv[f"conf_{name}"]
            if confidence < v.LOW_CONFIDENCE and not math.isnan(_f(inv[name])):
                warnings.append(
                    _issue("LOW_CONFIDENCE", name, f"confidence {confidence:.2f} below threshold")
                )
        if energy_tl > 0:
            cross = 100.0 * abs(kwh * price - energy_tl) / energy_tl
            if cross > v.ENERGY_CROSSCHECK_TOLERANCE:
                warnings.append(
                    _issue(
                        "ENERGY_CROSSCHECK",
                        "energy_total_tl",
                        f"kWh × unit price differs from the energy total by {cross:.1f} %",
                    )
                )
        if qty > 0 and math.isnan(demand_price):
            warnings.append(
                _issue(
                    "DEMAND_PRICE_MISSING",
                    "demand_unit_price_tl_per_unit",
                    "demand quantity without a demand unit price",
                )
            )
        for line in lines:
            amount = _f(line["amount_tl"])
            if not abs(amount) > 0:
                continue
            gap = abs(_f(line["qty"]) * _f(line["unit_price"]) - amount) / abs(amount)
            if 100.0 * gap > v.LINE_CONSISTENCY_TOLERANCE:
                warnings.append(
                    _issue(
                        "LINE_INCONSISTENT",
                        f"line_items[{line['line']}]",
                        f"{line['label']}: qty × unit price differs from amount by "
                        f"{100 * gap:.1f} %",
                    )
                )
    missing = [e for e in errors if e["code"] == "MISSING_FIELD"]
    consumption_missing = any(e["field"] == "consumption_kwh" for e in missing)
    other_missing = any(e["field"] != "consumption_kwh" for e in missing)
    validation_failed = any(e["code"] not in ("MISSING_FIELD", "TOTAL_HARD_STOP") for e in errors)
    low_confidence = any(w["code"] == "LOW_CONFIDENCE" for w in warnings)
    ready = ok and not errors

    # -- pricing facts (§5.2) -----------------------------------------------------------------
    market_missing = estimated = meta_missing = lookup_failed = False
    dist_mismatch = calc_bug = False
    offer_total = NAN
    if ready:
        period = inv["invoice_period"]
        if period is None and inv["invoice_date"] is not None:
            period = inv["invoice_date"][:7]
        ptf, yekdem, source = ctx.month(period)
        table = ctx.tariff(inv, period)
        has_meta = all(inv[k] is not None for k in TARIFF_KEYS)
        has_row = math.isfinite(table)
        has_extracted = math.isfinite(dist)
        market_missing = not math.isfinite(ptf)
        estimated = not market_missing and source == "estimate"
        meta_missing = not has_meta and not has_extracted
        lookup_failed = has_meta and not has_row and not has_extracted
        if has_row and dist > 0:
            difference = abs(dist - table)
            if table == 0:
                dist_mismatch = True  # any printed price differs from a zero tariff
            else:
                dist_mismatch = not difference / table * 100.0 <= v.DIST_TARIFF_TOLERANCE
        if not (market_missing or meta_missing or lookup_failed):
            shows_yekdem = _f(inv["yek_amount_tl"]) > 0
            offer_energy = ptf / 1000.0 * kwh + (yekdem / 1000.0 * kwh if shows_yekdem else 0.0)
            offer_energy *= ctx.multiplier
            offer_dist = kwh * (table if has_row else dist)
            offer_btv = offer_energy * btv_rate
            offer_sub = offer_energy + offer_dist + demand + offer_btv
            offer_total = offer_sub + offer_sub * vat_rate
            calc_bug = not math.isfinite(offer_total) or offer_total < 0

    # -- flags and score (§5.4) ---------------------------------------------------------------
    raised = {
        "EXTRACTION_FAILED": not ok,
        "CALC_BUG": calc_bug,
        "MARKET_PRICE_MISSING": market_missing,
        "CONSUMPTION_MISSING": consumption_missing,
        "TARIFF_LOOKUP_FAILED": lookup_failed,
        "TARIFF_META_MISSING": meta_missing,
        "INVOICE_TOTAL_MISMATCH": has_mismatch,
        "MISSING_FIELDS": other_missing,
        "VALIDATION_FAILED": validation_failed,
        "DISTRIBUTION_MISMATCH": dist_mismatch,
        "LOW_CONFIDENCE": low_confidence,
        "VALIDATION_WARNINGS": bool(warnings),
        "MARKET_PRICE_ESTIMATED": estimated,
    }
    flags = []
    for code, on in raised.items():
        if on:
            spec = CATALOGUE[code]
            sev = severity if code == "INVOICE_TOTAL_MISMATCH" else spec.severity
            flags.append((spec.priority, code, sev, spec.deduction))
    flags.sort()
    score = min(100.0, max(0.0, 100.0 - sum(f[3] for f in flags)))
    q = t.Quality
    grade = "OK" if score >= q.OK_MIN_SCORE else "CHECK" if score >= q.CHECK_MIN_SCORE else "BAD"

    # -- incident (§5.5) ----------------------------------------------------------------------
    incident = None
    serious = [f for f in flags if f[2] in SERIOUS]
    if serious:
        primary = serious[0][1]
        if suspect == "OCR_LOCALE_SUSPECT":
            action = "VERIFY_OCR"
        elif delta < m.ROUNDING_DELTA and ratio < m.ROUNDING_RATIO:
            action = "ACCEPT_ROUNDING_TOLERANCE"
        else:
            action = "VERIFY_INVOICE_LOGIC"
        note = confidence_note(
            inv["conf_consumption_kwh"],
            inv["conf_current_active_unit_price_tl_per_kwh"],
            inv["conf_invoice_total_with_vat_tl"],
        )
        hint = build_hint(primary, action, reason, note)
        key = str(inv["invoice_key"])
        info = None
        if has_mismatch:
            info = {
                "has_mismatch": True,
                "invoice_total": round(total, 2),
                "computed_total": round(computed, 2),
                "delta": round(delta, 2),
                "ratio": round(ratio, 6),
                "severity": severity,
                "delta_reason_candidate": reason,
            }
            if suspect:
                info["suspect_reason"] = suspect
        incident = {
            "dedupe_key": dedupe_key(tenant, key, primary),
            "invoice_key": key,
            "supplier": inv["supplier"],
            "severity": serious[0][2],
            "primary_flag": primary,
            "secondary_flags": [f[1] for f in serious[1:]],
            "action_class": hint["action_class"],
            "action_hint": hint,
            "mismatch_info": info,
            "error_code": inv["error_code"] if primary == "EXTRACTION_FAILED" else None,
        }
    return {
        "invoice_key": inv["invoice_key"],
        "is_ready_for_pricing": ready,
        "errors": errors,
        "warnings": warnings,
        "offer_total_tl": offer_total,
        "flags": [f[1] for f in flags],
        "quality_score": score,
        "quality_grade": grade,
        "incident": incident,
    }


def _issue(code: str, field: str, message: str) -> dict[str, str]:
    return {"code": code, "field": field, "message": message}


def evaluate_loop(
    invoices: Iterable[Mapping[str, Any]],
    line_items: Iterable[Mapping[str, Any]],
    market: MarketData,
    t: Thresholds,
    tenant: str = "default",
) -> list[dict[str, Any]]:
    """One result dict per invoice dict, in order."""
    ctx = Context(market, t)
    lines_by_key: dict[str, list[Mapping[str, Any]]] = {}
    for line in line_items:
        lines_by_key.setdefault(line["invoice_key"], []).append(line)
    results = []
    claimed: set[str] = set()  # a key's lines belong to the first ok invoice holding it
    for inv in invoices:
        key = inv["invoice_key"]
        lines: list[Mapping[str, Any]] = []
        if inv["status"] == "ok" and key not in claimed:
            claimed.add(key)
            lines = lines_by_key.get(key, [])
        results.append(evaluate_invoice(inv, lines, ctx, tenant))
    return results
