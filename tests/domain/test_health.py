"""System health report (SPEC §5.6): rates, histogram, triple-guard drift, top offenders."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from invoice_assets.domain.health import (
    HISTOGRAM_LABELS,
    drift_triggered,
    mismatch_histogram,
    system_health_report,
)

END = date(2025, 3, 14)


def _invoices(
    day: date, n: int, mismatches: int = 0, ocr: int = 0, supplier: str = "A", ratio: float = 0.3
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": [day.isoformat()] * n,
            "supplier": [supplier] * n,
            "has_mismatch": [i < mismatches for i in range(n)],
            "mismatch_ratio": [ratio if i < mismatches else 0.0 for i in range(n)],
            "ocr_suspect": [i < ocr for i in range(n)],
        }
    )


def _incidents(day: date, s1: int, s2: int = 0, supplier: str = "A") -> pd.DataFrame:
    rows = [("S1", "INVOICE_TOTAL_MISMATCH", "VERIFY_OCR")] * s1
    rows += [("S2", "INVOICE_TOTAL_MISMATCH", "VERIFY_INVOICE_LOGIC")] * s2
    return pd.DataFrame(
        {
            "day": [day.isoformat()] * len(rows),
            "supplier": [supplier] * len(rows),
            "severity": [r[0] for r in rows],
            "primary_flag": [r[1] for r in rows],
            "action_class": [r[2] for r in rows],
        }
    )


def test_the_histogram_always_has_five_buckets_with_half_open_edges() -> None:
    histogram = mismatch_histogram(pd.Series([0.0, 0.0199, 0.02, 0.05, 0.0999, 0.1, 0.2, 5.0]))
    assert list(histogram) == list(HISTOGRAM_LABELS)
    assert histogram == {"0-2%": 2, "2-5%": 1, "5-10%": 2, "10-20%": 1, "20%+": 2}
    assert mismatch_histogram(pd.Series([], dtype=float)) == dict.fromkeys(HISTOGRAM_LABELS, 0)


@pytest.mark.parametrize(
    ("total", "baseline", "current", "previous", "cur_rate", "prev_rate", "expected"),
    [
        (19, 100, 10, 0, 0.5, 0.0, False),  # guard 1: sample just below MIN_SAMPLE
        (20, 100, 10, 0, 0.5, 0.0, True),  # at MIN_SAMPLE
        (100, 19, 10, 0, 0.5, 0.0, False),  # guard 2: baseline just below MIN_SAMPLE
        (100, 20, 10, 0, 0.5, 0.0, True),  # baseline at MIN_SAMPLE
        (100, 0, 10, 0, 0.5, 0.0, False),  # no baseline at all (the first day of data)
        (100, 100, 14, 10, 0.9, 0.1, False),  # guard 3: |delta| 4 < MIN_ABSOLUTE_DELTA
        (100, 100, 15, 10, 0.9, 0.1, True),  # |delta| at MIN_ABSOLUTE_DELTA
        (100, 100, 15, 10, 0.199, 0.1, False),  # guard 4: just below RATE_MULTIPLIER × previous
        (100, 100, 15, 10, 0.2, 0.1, True),  # at RATE_MULTIPLIER × previous
        (100, 100, 4, 0, 0.04, 0.0, False),  # previous rate 0: needs count ≥ MIN_ABSOLUTE_DELTA
        (100, 100, 5, 0, 0.05, 0.0, True),
    ],
)
def test_drift_fires_only_when_every_guard_passes(
    t,
    total: int,
    baseline: int,
    current: int,
    previous: int,
    cur_rate: float,
    prev_rate: float,
    expected: bool,
) -> None:
    assert t.Drift.MIN_SAMPLE == 20 and t.Drift.MIN_ABSOLUTE_DELTA == 5  # the table's premise
    assert t.Drift.RATE_MULTIPLIER == 2.0
    assert drift_triggered(total, baseline, current, previous, cur_rate, prev_rate, t) is expected


def test_a_window_without_a_baseline_never_drifts(t) -> None:
    invoices = _invoices(END, 40, mismatches=30, ocr=20)
    incidents = _incidents(END, s1=25, s2=5)

    report = system_health_report(invoices, incidents, END, 7, t)

    assert report["previous"]["total_invoices"] == 0
    assert not any(d["triggered"] for d in report["drift"].values())
    assert all(d["has_baseline"] is False for d in report["drift"].values())


def test_the_report_compares_the_window_with_the_one_before(t) -> None:
    previous_day = END - timedelta(days=8)
    invoices = pd.concat(
        [_invoices(END, 40, mismatches=10, ocr=6), _invoices(previous_day, 40, mismatches=2)]
    )
    incidents = pd.concat([_incidents(END, s1=8, s2=2), _incidents(previous_day, s1=0, s2=2)])

    report = system_health_report(invoices, incidents, END, 7, t)

    assert report["window"] == {"start": "2025-03-08", "end": "2025-03-14", "days": 7}
    current, before = report["current"], report["previous"]
    assert (current["total_invoices"], current["mismatch_count"], current["s1_count"]) == (
        40,
        10,
        8,
    )
    assert current["s1_rate"] == pytest.approx(0.8)
    assert current["ocr_suspect_rate"] == pytest.approx(0.6)
    assert current["mismatch_rate"] == pytest.approx(0.25)
    assert (before["total_invoices"], before["s1_count"], before["s2_count"]) == (40, 0, 2)
    assert report["drift"]["S1_RATE_DRIFT"]["triggered"] is True
    assert report["drift"]["OCR_SUSPECT_DRIFT"]["triggered"] is True
    assert report["drift"]["MISMATCH_RATE_DRIFT"]["triggered"] is True
    assert report["histogram"]["20%+"] == 10
    assert report["action_classes"] == {"VERIFY_INVOICE_LOGIC": 2, "VERIFY_OCR": 8}


def test_rates_are_zero_on_empty_windows(t) -> None:
    report = system_health_report(_invoices(END, 0), _incidents(END, 0), END, 7, t)
    assert report["current"]["s1_rate"] == 0.0
    assert report["current"]["mismatch_rate"] == 0.0
    assert not any(d["triggered"] for d in report["drift"].values())


def test_top_offenders_by_rate_respect_the_volume_guard(t) -> None:
    guard = t.Drift.TOP_OFFENDERS_MIN_INVOICES
    invoices = pd.concat(
        [
            _invoices(END, guard - 1, mismatches=guard - 1, supplier="small"),
            _invoices(END, guard, mismatches=5, supplier="big"),
        ]
    )
    incidents = pd.concat(
        [_incidents(END, 3, supplier="small"), _incidents(END, 1, supplier="big")]
    )

    offenders = system_health_report(invoices, incidents, END, 7, t)["top_offenders"]

    assert [o["supplier"] for o in offenders["by_rate"]] == ["big"]
    assert offenders["by_rate"][0]["mismatch_rate"] == pytest.approx(5 / guard)
    assert offenders["by_count"] == [
        {"supplier": "small", "supplier_id": "small", "incidents": 3},
        {"supplier": "big", "supplier_id": "big", "incidents": 1},
    ]


def test_top_offenders_group_one_supplier_once_however_it_was_printed(t) -> None:
    guard = t.Drift.TOP_OFFENDERS_MIN_INVOICES
    # Issue 17: two printed forms of one unknown supplier (one id) and a known supplier.
    acme = pd.concat(
        [
            _invoices(END, guard, mismatches=guard, supplier="Acme Enerji A.Ş."),
            _invoices(END, 2, mismatches=2, supplier="ACME ENERJI"),
        ]
    ).assign(supplier_id="acme-enerji")
    known = _invoices(END, guard, mismatches=1, supplier="CK Boğaziçi").assign(
        supplier_id="ck-bogazici"
    )
    incidents = pd.concat(
        [
            _incidents(END, 2, supplier="ACME ENERJI").assign(supplier_id="acme-enerji"),
            _incidents(END, 1, supplier="Acme Enerji A.Ş.").assign(supplier_id="acme-enerji"),
            _incidents(END, 1, supplier="CK Boğaziçi").assign(supplier_id="ck-bogazici"),
        ]
    )

    offenders = system_health_report(pd.concat([acme, known]), incidents, END, 7, t)[
        "top_offenders"
    ]

    by_rate = [(o["supplier_id"], o["supplier"], o["invoices"]) for o in offenders["by_rate"]]
    assert by_rate == [
        ("acme-enerji", "Acme Enerji A.Ş.", guard + 2),  # the most frequent printed name
        ("ck-bogazici", "CK Boğaziçi", guard),
    ]
    assert offenders["by_count"] == [
        {"supplier": "Acme Enerji A.Ş.", "supplier_id": "acme-enerji", "incidents": 3},
        {"supplier": "CK Boğaziçi", "supplier_id": "ck-bogazici", "incidents": 1},
    ]


def test_the_windows_select_calendar_days_from_text_dates_or_timestamps(t) -> None:
    """Edges of both windows (day 1 and 7 of each, one day before and after) as ISO text, as
    dates, as timestamps with a time of day and as aware timestamps in another zone."""
    edges = [END + timedelta(days=d) for d in (1, 0, -6, -7, -13, -14)]
    invoices = pd.concat(
        [_invoices(d, 10 + i, mismatches=i, ocr=i // 2) for i, d in enumerate(edges)],
        ignore_index=True,
    )
    incidents = pd.concat([_incidents(d, s1=i, s2=1) for i, d in enumerate(edges)])
    expected = system_health_report(invoices, incidents, END, 7, t)
    assert expected["current"]["total_invoices"] == 11 + 12
    assert expected["previous"]["total_invoices"] == 13 + 14

    def retyped(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
        days = pd.to_datetime(frame["day"])
        if kind == "date":
            values = days.dt.date
        elif kind == "timestamp":
            values = days + pd.Timedelta(hours=23, minutes=59)
        else:  # 01:30 in Istanbul is still the same calendar day there
            values = (days + pd.Timedelta(hours=1, minutes=30)).dt.tz_localize("Europe/Istanbul")
        return frame.assign(day=values.to_numpy())

    for kind in ("date", "timestamp", "aware"):
        report = system_health_report(retyped(invoices, kind), retyped(incidents, kind), END, 7, t)
        assert report == expected, kind
