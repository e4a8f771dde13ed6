"""``invoice_assets/demo/``: the seeded demo inbox and the incidents its manifest predicts.

The generated files go through the same parsing and domain pipeline as the extractions asset
(``parse_inbox_content`` → ``mark_duplicates`` → ``items_to_frames`` → ``pipeline.evaluate``) with
the shipped config, and what the pipeline finds is compared, invoice by invoice, with what the
generator injected.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from invoice_assets.demo import (
    ANOMALIES,
    MANIFEST_NAME,
    DemoInvoice,
    DemoManifest,
    generate_demo,
)
from invoice_assets.domain import frames, pipeline, records
from invoice_assets.domain.market import normalise_label
from resources.market_data import load_market_data
from resources.thresholds import load_thresholds

MAX_BYTES = 1_000_000
DAYS = ("2025-03-15", "2025-08-02", "2025-11-20")  # billing months with published prices
PER_DAY = 40
FILE_NAME = re.compile(r"^inv-\d{6}(-broken)?\.json$")
KWH_RANGE = {
    "mesken": (150, 600),
    "ticarethane": (1_000, 20_000),
    "sanayi": (20_000, 500_000),
    "tarimsal": (2_000, 50_000),
}


def evaluate_inbox(inbox: Path) -> tuple[pipeline.Evaluation, list[str]]:
    """Every non-hidden file of every day folder, evaluated as the pipeline would, and each row's
    ``<day>/<file>``."""
    items: list[records.InboxItem] = []
    for folder in sorted(p for p in inbox.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                name = f"{folder.name}/{path.name}"
                items.extend(records.parse_inbox_content(name, path.read_bytes(), MAX_BYTES))
    invoices, lines = frames.items_to_frames(records.mark_duplicates(items))
    ev = pipeline.evaluate(invoices, lines, load_market_data(), load_thresholds())
    return ev, list(ev.invoices["source_file"])


def found_incidents(ev: pipeline.Evaluation, files: list[str]) -> dict[str, tuple[str, str]]:
    """``<day>/<file>`` → (primary flag, severity) of the incidents the pipeline raised."""
    return {
        files[row]: (flag, severity)
        for row, flag, severity in zip(
            ev.incidents["row"], ev.incidents["primary_flag"], ev.incidents["severity"], strict=True
        )
    }


def expected_incidents(manifest: DemoManifest) -> dict[str, tuple[str, str]]:
    return {
        f"{inv.day}/{inv.file_name}": (inv.expected_primary_flag, inv.expected_severity)
        for inv in manifest.invoices
        if inv.expected_primary_flag is not None and inv.expected_severity is not None
    }


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, DemoManifest]:
    inbox = tmp_path_factory.mktemp("inbox")
    return inbox, generate_demo(inbox, DAYS, PER_DAY, seed=7)


@pytest.fixture(scope="module")
def evaluated(demo) -> tuple[pipeline.Evaluation, list[str]]:
    inbox, _ = demo
    return evaluate_inbox(inbox)


def by_file(manifest: DemoManifest) -> dict[str, DemoInvoice]:
    return {f"{inv.day}/{inv.file_name}": inv for inv in manifest.invoices}


# --- determinism and layout -------------------------------------------------------------------


def test_the_same_seed_and_arguments_give_byte_identical_files(demo, tmp_path):
    inbox, manifest = demo
    again = generate_demo(tmp_path, DAYS, PER_DAY, seed=7)
    assert again == manifest
    assert tree(tmp_path) == tree(inbox)


def test_a_different_seed_gives_different_invoices(demo, tmp_path):
    inbox, manifest = demo
    other = generate_demo(tmp_path, DAYS, PER_DAY, seed=8)
    assert [inv.file_name for inv in other.invoices] == [inv.file_name for inv in manifest.invoices]
    first = f"{DAYS[0]}/inv-000001.json"
    assert tree(tmp_path)[first] != tree(inbox)[first]
    assert other.invoices != manifest.invoices


def test_every_day_folder_holds_the_day_s_invoices_and_one_malformed_file(demo):
    inbox, manifest = demo
    assert sorted(p.name for p in inbox.iterdir()) == sorted([*DAYS, MANIFEST_NAME])
    for day in DAYS:
        names = sorted(p.name for p in (inbox / day).iterdir())
        assert len(names) == PER_DAY + 1
        assert all(FILE_NAME.match(name) for name in names)
        assert sum(name.endswith("-broken.json") for name in names) == 1
        listed = sorted(inv.file_name for inv in manifest.invoices if inv.day == day)
        assert listed == names
    all_names = [inv.file_name for inv in manifest.invoices]
    assert len(set(all_names)) == len(all_names)  # names are unique across days too


def test_the_manifest_round_trips_through_json_and_is_written_hidden_at_the_inbox_root(demo):
    inbox, manifest = demo
    text = (inbox / MANIFEST_NAME).read_text(encoding="utf-8")
    assert text == manifest.to_json()
    assert DemoManifest.from_json(text) == manifest
    assert manifest.seed == 7


def test_regenerating_into_the_same_inbox_replaces_the_demo_files_and_keeps_other_files(tmp_path):
    generate_demo(tmp_path, ["2025-03-15"], 12)
    keep = tmp_path / "2025-03-15" / "operator-note.txt"
    keep.write_text("mine", encoding="utf-8")
    manifest = generate_demo(tmp_path, ["2025-03-15"], 5)
    names = sorted(p.name for p in (tmp_path / "2025-03-15").iterdir())
    assert names == sorted([*(inv.file_name for inv in manifest.invoices), keep.name])
    assert not [p for p in tmp_path.rglob(".*.tmp")]


def test_small_days_still_get_exactly_one_malformed_file(tmp_path):
    manifest = generate_demo(tmp_path, ["2025-03-15", "2025-03-16"], 0)
    assert [inv.anomaly for inv in manifest.invoices] == ["malformed", "malformed"]
    manifest = generate_demo(tmp_path, ["2025-03-17"], 3)
    assert len(list((tmp_path / "2025-03-17").iterdir())) == 4
    assert manifest.counts()["malformed"] == 1


@pytest.mark.parametrize(
    ("days", "count"),
    [
        (["2025-3-15"], 5),
        (["2025-02-30"], 5),
        (["2025-03-15", "2025-03-15"], 5),
        (["2025-03-15"], -1),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(tmp_path, days, count):
    with pytest.raises(ValueError):
        generate_demo(tmp_path, days, count)
    assert list(tmp_path.iterdir()) == []


# --- the manifest ----------------------------------------------------------------------------


def test_each_anomaly_type_appears_every_day_and_about_a_fifth_of_invoices_carry_one(demo):
    _, manifest = demo
    for day in DAYS:
        kinds = Counter(inv.anomaly for inv in manifest.invoices if inv.day == day)
        assert set(ANOMALIES) <= set(kinds)
        assert kinds["malformed"] == 1
        injected = sum(n for kind, n in kinds.items() if kind not in (None, "malformed"))
        assert injected == round(0.2 * PER_DAY)
    counts = manifest.counts()
    assert counts["clean"] == len(DAYS) * (PER_DAY - round(0.2 * PER_DAY))
    assert sum(counts.values()) == len(manifest.invoices)


def test_expectations_follow_the_spec_rules_for_each_anomaly(demo):
    _, manifest = demo
    expected = {
        None: (None, None),
        "low_confidence": (None, None),
        "s2_mismatch": ("INVOICE_TOTAL_MISMATCH", "S2"),
        "s1_mismatch": ("INVOICE_TOTAL_MISMATCH", "S1"),
        "missing_fields": ("MISSING_FIELDS", "S2"),
        "unknown_tariff": ("TARIFF_LOOKUP_FAILED", "S1"),
        "malformed": ("EXTRACTION_FAILED", "S1"),
    }
    for inv in manifest.invoices:
        assert (inv.expected_primary_flag, inv.expected_severity) == expected[inv.anomaly], inv
    assert manifest.expected_incidents() == sum(manifest.expected_by_primary_flag().values())
    assert manifest.expected_by_primary_flag() == dict(
        sorted(Counter(f for f, _ in expected_incidents(manifest).values()).items())
    )


# --- through the pipeline --------------------------------------------------------------------


def test_the_pipeline_raises_exactly_the_expected_incident_for_every_invoice(demo, evaluated):
    _, manifest = demo
    ev, files = evaluated
    assert sorted(files) == sorted(by_file(manifest))
    assert found_incidents(ev, files) == expected_incidents(manifest)
    assert len(ev.incidents) == manifest.expected_incidents()
    found = Counter(ev.incidents["primary_flag"])
    assert dict(sorted(found.items())) == manifest.expected_by_primary_flag()


def test_clean_invoices_have_grade_ok_and_no_flag(demo, evaluated):
    _, manifest = demo
    ev, files = evaluated
    view = ev.invoice_view()
    clean = [i for i, f in enumerate(files) if by_file(manifest)[f].anomaly is None]
    assert len(clean) == manifest.counts()["clean"]
    assert set(view.loc[clean, "quality_grade"]) == {"OK"}
    assert set(view.loc[clean, "flags"]) == {""}
    assert set(view.loc[clean, "delta_reason_candidate"]) == {"ROUNDING"}
    assert (view.loc[clean, "mismatch_delta"] < 0.05).all()
    assert set(view.loc[clean, "offer_status"]) == {"priced"}


def test_injected_anomalies_look_as_intended_to_the_pipeline(demo, evaluated):
    _, manifest = demo
    ev, files = evaluated
    t = load_thresholds()
    view = ev.invoice_view()
    kind = pd.Series([by_file(manifest)[f].anomaly for f in files])
    s2 = view[kind == "s2_mismatch"]
    assert (s2["mismatch_ratio"] >= t.Mismatch.RATIO).all()
    assert (s2["mismatch_ratio"] < 0.15).all()
    assert (s2["mismatch_delta"] >= t.Mismatch.ABSOLUTE).all()
    assert set(s2["delta_reason_candidate"]) <= {"ADJUSTMENT", "UNKNOWN"}
    assert s2["suspect_reason"].isna().all()
    s1 = view[kind == "s1_mismatch"]
    assert (s1["mismatch_ratio"] >= 0.25).all()
    assert (s1["mismatch_delta"] >= t.Mismatch.SEVERE_ABSOLUTE).all()
    assert s1["suspect_reason"].isna().all()
    low = view[kind == "low_confidence"]
    assert set(low["flags"]) == {"LOW_CONFIDENCE,VALIDATION_WARNINGS"}
    assert set(low["delta_reason_candidate"]) == {"ROUNDING"}
    unknown = view[kind == "unknown_tariff"]
    assert set(unknown["delta_reason_candidate"]) == {"ROUNDING"}
    assert set(unknown["flags"]) == {"TARIFF_LOOKUP_FAILED"}
    broken = view[kind == "malformed"]
    assert set(broken["error_code"]) == {"invalid_json"}


@pytest.mark.parametrize(
    ("day", "primary_of_clean"),
    [
        ("2026-11-29", None),  # billing month 2026-10: price row is an estimate (S3 only)
        ("2027-02-10", "MARKET_PRICE_MISSING"),  # 2027-01: no price row
        ("2023-06-15", "MARKET_PRICE_MISSING"),  # 2023-05: no price row and no tariff row yet
    ],
)
def test_expectations_track_the_market_data_of_the_billing_month(tmp_path, day, primary_of_clean):
    manifest = generate_demo(tmp_path, [day], 30, seed=3)
    ev, files = evaluate_inbox(tmp_path)
    assert found_incidents(ev, files) == expected_incidents(manifest)
    clean = [inv for inv in manifest.invoices if inv.anomaly is None]
    assert {inv.expected_primary_flag for inv in clean} == {primary_of_clean}
    if primary_of_clean is None:
        view = ev.invoice_view()
        rows = [i for i, f in enumerate(files) if by_file(manifest)[f].anomaly is None]
        assert set(view.loc[rows, "flags"]) == {"MARKET_PRICE_ESTIMATED"}
        assert set(view.loc[rows, "quality_grade"]) == {"OK"}


# --- realism ---------------------------------------------------------------------------------


def test_invoices_look_like_turkish_supplier_invoices(evaluated):
    ev, files = evaluated
    market = load_market_data()
    keys = ("tariff_group", "voltage_level", "tariff_term")
    combos = set(zip(*(normalise_label(market.tariffs[k]) for k in keys), strict=True))
    inv = ev.invoices
    ok = inv[inv["status"] == "ok"]
    assert ok["supplier"].nunique() >= 6
    known = ok[ok["tariff_group"] != "ozel_tarife"]
    assert set(zip(*(normalise_label(known[k]) for k in keys), strict=True)) <= combos
    assert {"mesken", "ticarethane", "sanayi", "tarimsal"} <= set(known["tariff_group"])
    assert ok["invoice_no"].notna().all()
    assert 0.6 < ok["ettn"].notna().mean() < 1.0
    assert (ok["yek_amount_tl"] > 0).any()
    for group, (low, high) in KWH_RANGE.items():
        kwh = known.loc[known["tariff_group"] == group, "consumption_kwh"]
        assert kwh.between(low, high).all(), group
    assert ok["current_active_unit_price_tl_per_kwh"].between(2.5, 5.0).all()
    assert ok["conf_energy_total_tl"].between(0.85, 0.99).all()
    table = market.tariff_prices(known, known["invoice_period"])
    assert known["distribution_unit_price_tl_per_kwh"].to_numpy() == pytest.approx(table)
    for row in ok.itertuples():
        day = date.fromisoformat(files[row.Index].split("/")[0])
        issued = date.fromisoformat(row.invoice_date)
        assert (issued.year, issued.month) == (day.year, day.month) and issued <= day
        prev = date(day.year - (day.month == 1), (day.month - 2) % 12 + 1, 1)
        assert row.invoice_period == prev.strftime("%Y-%m")
