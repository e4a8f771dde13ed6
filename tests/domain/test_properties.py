"""Property tests: arbitrary extraction records and arbitrary inbox bytes never break the domain.

For any batch of records (random subsets of fields; zero, negative, huge and tiny values; any
confidence in [0, 1]; random tariff labels and periods; some records invalid or duplicated),
``evaluate`` does not raise (warnings are errors under pytest), every stage frame has one row per
invoice, scores stay in [0, 100] and the same input gives the same output.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invoice_assets.domain import frames, pipeline, records
from invoice_assets.domain.flags import CATALOGUE
from invoice_assets.domain.validation import PLAUSIBLE_MAX
from tests.domain.conftest import MAX_BYTES, make_record, record_items

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

numbers = st.one_of(
    st.just(0.0),
    st.just(-0.0),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e300, max_value=1e300, allow_nan=False, allow_infinity=False),
    st.sampled_from([1e-300, -1e-300, 5e-324, 1e308, -1e308, 1.7976931348623157e308]),
    st.integers(min_value=-(10**9), max_value=10**9),
)
confidences = st.floats(min_value=0.0, max_value=1.0)
labels = st.sampled_from(
    ["sanayi", "Sanayi", "SANAYİ", "tarımsal", "Tarımsal", "mesken", "ticarethane", "xyz", ""]
)
voltages = st.sampled_from(["OG", "AG", "YG", "og", "Orta Gerilim", ""])
terms = st.sampled_from(["tek_terim", "cift_terim", "çift terim", "Tek Terim"])
periods = st.sampled_from(
    [
        "2019-01",
        "2024-01",
        "2024-07",
        "2025-01",
        "2025-06",
        "2026-09",
        "2026-10",
        "2026-12",
        "2030-01",
    ]
)
short_text = st.text(alphabet="ABC-1şİ|", min_size=1, max_size=6)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


field_values = st.fixed_dictionaries(
    {"value": maybe(numbers), "confidence": confidences},
    optional={"page": st.integers(1, 50), "evidence": maybe(st.text(max_size=20))},
)
extractions = st.dictionaries(st.sampled_from(records.NUMERIC_FIELDS), field_values)
invoice_meta = st.fixed_dictionaries(
    {"supplier": short_text},
    optional={
        "invoice_no": maybe(short_text),
        "ettn": maybe(short_text),
        "invoice_period": maybe(periods),
        "invoice_date": maybe(st.sampled_from(["2024-03-01", "2025-02-05", "2026-11-30"])),
        "tariff_group": maybe(labels),
        "voltage_level": maybe(voltages),
        "tariff_term": maybe(terms),
    },
)
line_items = st.lists(
    st.fixed_dictionaries(
        {"label": st.text(max_size=8)},
        optional={
            "qty": maybe(numbers),
            "unit": maybe(st.sampled_from(["kWh", "kW", "adet"])),
            "unit_price": maybe(numbers),
            "amount_tl": maybe(numbers),
            "confidence": confidences,
        },
    ),
    max_size=3,
)
random_records = st.fixed_dictionaries(
    {"schema_version": st.just(1), "invoice": invoice_meta, "extraction": extractions},
    optional={"line_items": line_items},
)


@st.composite
def near_clean_records(draw: st.DrawFn) -> dict[str, Any]:
    """The clean builder record with a few fields replaced: reaches pricing far more often."""
    record = make_record(invoice={"invoice_no": draw(short_text)})
    for name in draw(st.lists(st.sampled_from(records.NUMERIC_FIELDS), max_size=3)):
        record["extraction"][name] = draw(field_values)
    if draw(st.booleans()):
        record["invoice"]["invoice_period"] = draw(periods)
    if draw(st.booleans()):
        record["invoice"]["tariff_group"] = draw(maybe(labels))
    return record


broken_inputs = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"", b"{", b"%PDF-1.4", b"[1]", b'{"schema_version": 1}', b"NaN"]),
)
batches = st.lists(
    st.one_of(random_records, near_clean_records(), near_clean_records(), broken_inputs),
    min_size=1,
    max_size=6,
)

STAGES = ("invoices", "breakdown", "mismatch", "validation", "offers", "scores")


def evaluate(batch: list[Any], t, market) -> pipeline.Evaluation:
    invoices, lines = frames.items_to_frames(record_items(batch))
    return pipeline.evaluate(invoices, lines, market, t)


@SETTINGS
@given(batch=batches)
def test_arbitrary_records_evaluate_row_aligned_bounded_and_deterministic(t, market, batch):
    ev = evaluate(batch, t, market)
    n = len(batch)

    # invoices in = ok + failed; every stage frame has one row per invoice
    assert len(ev.invoices) == n
    assert set(ev.invoices["status"]) <= {"ok", "failed"}
    for stage in STAGES:
        frame = getattr(ev, stage)
        assert len(frame) == n, stage
        assert list(frame.index) == list(range(n)), stage
    assert len(ev.invoice_view()) == n

    # scores in range and equal to the clamped catalogue deductions
    scores = ev.scores["quality_score"].to_numpy()
    assert np.all((scores >= 0) & (scores <= 100))
    deductions = ev.flags.groupby("row")["deduction"].sum().reindex(range(n), fill_value=0)
    assert np.array_equal(scores, np.clip(100 - deductions.to_numpy(), 0, 100))
    assert set(ev.flags["flag"]) <= set(CATALOGUE)
    assert set(ev.scores["quality_grade"]) <= {"OK", "CHECK", "BAD"}

    # failed extractions are exactly the EXTRACTION_FAILED flags
    failed = set(np.flatnonzero((ev.invoices["status"] == "failed").to_numpy()))
    assert set(ev.flags.loc[ev.flags["flag"] == "EXTRACTION_FAILED", "row"]) == failed

    # offers: priced rows have finite, non-negative totals; others have none
    priced = (ev.offers["offer_status"] == "priced").to_numpy()
    totals = ev.offers["offer_total_tl"].to_numpy()
    assert np.all(np.isfinite(totals[priced]) & (totals[priced] >= 0))
    assert np.all(np.isnan(totals[~priced]))
    assert not np.any(priced & ~ev.validation["is_ready_for_pricing"].to_numpy())
    # CALC_BUG means a bug, not bad input: it is raised only on invoices whose every bounded
    # field is within its plausibility bound (absurd magnitudes stop at validation)
    calc_bug = ev.offers["calc_bug"].to_numpy()
    for name, (key, _) in PLAUSIBLE_MAX.items():
        values = ev.invoices[name].abs().to_numpy()[calc_bug]
        assert not np.any(values > getattr(t.Validation, key)), name

    # incidents: at most one per invoice, exactly for the invoices with an S1/S2 flag
    serious = set(ev.flags.loc[ev.flags["severity"].isin(["S1", "S2"]), "row"])
    assert sorted(ev.incidents["row"]) == sorted(serious)
    assert set(ev.incidents["severity"]) <= {"S1", "S2"}
    for hint in ev.incidents["action_hint"]:
        assert len(hint["recommended_checks"]) <= 5
        json.dumps(hint)
    for info in ev.incidents["mismatch_info"]:
        json.dumps(info, allow_nan=False)

    # determinism: the same input gives the same output
    again = evaluate(batch, t, market)
    for stage in (*STAGES, "flags", "issues", "incidents"):
        pd.testing.assert_frame_equal(getattr(ev, stage), getattr(again, stage), obj=stage)


@SETTINGS
@given(content=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_arbitrary_bytes_never_raise_and_give_at_least_one_item(content):
    for name in ("inbox.json", "inbox.jsonl", "inbox.pdf"):
        items = records.parse_inbox_content(name, content, MAX_BYTES)
        assert len(items) >= 1
        for item in items:
            assert (item.record is None) != (item.error is None)
            if item.error is not None:
                assert item.error.code and isinstance(item.error.code, str)
        frames.items_to_frames(records.mark_duplicates(items))


json_fragments = st.sampled_from(
    [b"{", b"}", b"[", b"]", b'"schema_version": 1', b",", b"\n", b"NaN", b"\xef\xbb\xbf", b" "]
)


@SETTINGS
@given(
    parts=st.lists(
        st.one_of(
            json_fragments,
            random_records.map(lambda r: json.dumps(r).encode()),
            st.binary(max_size=8),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_json_like_bytes_never_raise_and_account_for_every_line(parts):
    content = b"".join(parts)
    items = records.parse_inbox_content("bulk.jsonl", content, MAX_BYTES)
    assert len(items) >= 1
    if content.strip() and len(content) <= MAX_BYTES:
        kind = records.sniff_kind(content)
        if kind in ("json", "jsonl"):
            non_empty = [line for line in content.splitlines() if line.strip()]
            assert len(items) == len(non_empty)


def precise_parse(raw: bytes) -> records.ExtractionRecord | records.ItemError:
    """The step-by-step path of ``parse_record_bytes`` (decode, ``json.loads``, validate)."""
    try:
        obj = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return records.ItemError("invalid_encoding", None, "")
    except (ValueError, RecursionError):
        return records.ItemError("invalid_json", None, "")
    return records.parse_record(obj)


def same_outcome(raw: bytes) -> None:
    fast, precise = records.parse_record_bytes(raw), precise_parse(raw)
    if isinstance(precise, records.ExtractionRecord):
        assert fast == precise
    else:
        assert isinstance(fast, records.ItemError)
        assert fast.code == precise.code
        if precise.code not in ("invalid_json", "invalid_encoding"):
            assert fast == precise


@SETTINGS
@given(
    record=st.one_of(random_records, near_clean_records()),
    spacing=st.sampled_from([None, 2]),
    ascii_only=st.booleans(),
)
def test_fast_and_precise_parse_paths_agree_on_any_record(record, spacing, ascii_only):
    same_outcome(json.dumps(record, indent=spacing, ensure_ascii=ascii_only).encode())


def test_fast_and_precise_parse_paths_agree_on_the_malformed_corpus():
    from tests.bad_input.corpus import corpus

    lines = [
        line
        for inbox_file in corpus()
        for line in (inbox_file.content.splitlines() or [inbox_file.content])
    ]
    assert len(lines) > 50
    for line in lines:
        same_outcome(line)
