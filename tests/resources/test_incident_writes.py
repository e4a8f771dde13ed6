"""Reruns of a day against operators working on its incidents, on SQLite and PostgreSQL.

A rerun decides from a snapshot of the stored incidents read before it writes; operators change
incidents meanwhile, and so may a second run. The first tests replay the exact interleavings (a
snapshot taken, then the operator's or the other run's write, then the rerun's write); the last
ones race real ``incidents`` materialisations against operators in threads.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from invoice_assets.definitions import build_resources
from invoice_assets.domain.feedback import validate_feedback
from invoice_assets.domain.incidents import INCIDENT_COLUMNS, reconcile_incidents
from invoice_assets.kernel.clock import SYSTEM_CLOCK
from invoice_assets.services.reporting import build_run_summary
from resources.store import InvoiceStore
from resources.store.incidents import StatusConflict, TransitionRefused
from resources.thresholds import load_thresholds
from tests.assets.helpers import graph_assets, materialize_day, store_for
from tests.conftest import SMOKE

utcnow = SYSTEM_CLOCK.now  # the moment these tests stamp their writes with

DAY = "2025-03-11"
TENANT = "default"
FEEDBACK = validate_feedback({"action_taken": "VERIFIED_LOGIC", "was_hint_correct": True})


def _bulk_day(inbox: Path, n: int, every: int) -> int:
    """``n`` invoices in one .jsonl, every ``every``-th printing a total 8 000 TL too high (an
    S2 incident each); returns how many incidents that makes."""
    record = json.loads((SMOKE / "happy_path_invoice.json").read_text(encoding="utf-8"))
    lines = []
    for i in range(n):
        record["invoice"]["ettn"] = f"race-{i:05d}"
        total = 50_000 if i % every == 0 else 42_000
        record["extraction"]["invoice_total_with_vat_tl"]["value"] = total
        lines.append(json.dumps(record, separators=(",", ":")))
    folder = inbox / DAY
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bulk.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(range(0, n, every))


@pytest.fixture
def day(env: dict[str, str], apply_env) -> tuple[dict[str, str], InvoiceStore, int]:
    """A materialised day with its incidents, on the backend under test."""
    env = apply_env(env)
    expected = _bulk_day(Path(env["INVOICE_HOME"]) / "inbox", 600, 20)
    assert materialize_day(env, DAY).success
    store = store_for(env)
    assert len(store.list_incidents(day=DAY, limit=1000)) == expected
    return env, store, expected


def _snapshot(store: InvoiceStore, vanished: set[int] = frozenset()) -> dict[str, object]:
    """What a rerun reads before it writes: the stored state, and the same incidents computed
    again (less the ``vanished`` ones, whose flags a corrected invoice no longer raises)."""
    rows = [r for r in store.list_incidents(day=DAY, limit=1000)]
    computed = pd.DataFrame(
        [
            {c: r[c] for c in ("day", "ocr_suspect", *INCIDENT_COLUMNS)}
            for r in rows
            if r["incident_id"] not in vanished
        ]
    )
    return {
        "existing": store.incident_state([DAY], TENANT),
        "computed": computed,
        "keys": pd.Series([r["invoice_key"] for r in rows]),
    }


def _write(store: InvoiceStore, snapshot: dict[str, object]) -> dict[str, int]:
    t = load_thresholds()
    now = utcnow()
    upserts, resolved = reconcile_incidents(
        snapshot["existing"], snapshot["computed"], snapshot["keys"], pd.Timestamp(now), t
    )
    return store.write_incidents(
        upserts, resolved, TENANT, now, max_recompute=t.Recovery.MAX_RECOMPUTE
    )


def _by_id(store: InvoiceStore) -> dict[int, dict]:
    return {r["incident_id"]: r for r in store.list_incidents(day=DAY, limit=1000)}


def _coverage(store: InvoiceStore) -> float:
    return float(
        build_run_summary(store, DAY, DAY, load_thresholds())["rates"]["feedback_coverage"]
    )


# -- the interleavings, replayed exactly ------------------------------------------------------
def test_a_rerun_whose_snapshot_predates_operator_work_keeps_that_work(day) -> None:
    _, store, _ = day
    first, second, third, fourth = sorted(_by_id(store))[:4]
    snapshot = _snapshot(store, vanished={third})  # the rerun reads: all four OPEN

    now = utcnow()
    store.set_incident_status(first, "RESOLVED", "manual_resolved", now)
    store.put_feedback(first, FEEDBACK, "alice", now)
    store.set_incident_status(second, "ACK", None, now)
    store.set_incident_status(third, "RESOLVED", "manual_resolved", now)
    before = _by_id(store)

    counts = _write(store, snapshot)

    after = _by_id(store)
    for number in (first, third):  # the operator's resolutions stand, with their time
        assert after[number]["status"] == "RESOLVED"
        assert after[number]["resolution_reason"] == "manual_resolved"
        assert after[number]["resolved_at"] == before[number]["resolved_at"]
    assert after[first]["feedback_by"] == "alice"
    assert after[second]["status"] == "ACK"
    assert after[second]["resolved_at"] is None
    assert after[fourth]["status"] == "OPEN"
    assert counts["resolved"] == 0  # the vanished one was resolved by hand first
    assert all(after[n]["occurrence_count"] == 2 for n in (first, second, fourth))
    assert _coverage(store) <= 1.0


def test_a_recompute_resolution_never_replaces_a_status_that_moved(day) -> None:
    _, store, _ = day
    first, second = sorted(_by_id(store))[:2]
    snapshot = _snapshot(store, vanished={first, second})  # both OPEN and then corrected
    store.set_incident_status(first, "ACK", None, utcnow())

    counts = _write(store, snapshot)

    after = _by_id(store)
    assert counts["resolved"] == 1
    assert after[first]["status"] == "ACK"  # it was ACK, not the OPEN the rerun expected
    assert (after[second]["status"], after[second]["resolution_reason"]) == (
        "RESOLVED",
        "recompute_resolved",
    )


def test_two_reruns_from_the_same_snapshot_count_two_occurrences(day) -> None:
    _, store, expected = day
    snapshot = _snapshot(store)

    _write(store, snapshot)
    _write(store, snapshot)

    counts = [r["occurrence_count"] for r in _by_id(store).values()]
    assert counts == [3] * expected


def test_a_rerun_reopening_an_incident_leaves_one_an_operator_reviewed(day) -> None:
    _, store, _ = day
    first, second = sorted(_by_id(store))[:2]
    _write(store, _snapshot(store, vanished={first, second}))  # both recompute_resolved
    snapshot = _snapshot(store)  # they come back: the rerun will reopen both
    store.put_feedback(first, FEEDBACK, "alice", utcnow())

    _write(store, snapshot)

    after = _by_id(store)
    assert (after[first]["status"], after[first]["feedback_by"]) == ("RESOLVED", "alice")
    assert (after[second]["status"], after[second]["resolved_at"]) == ("OPEN", None)
    assert _coverage(store) <= 1.0


def test_feedback_is_refused_once_a_rerun_has_reopened_the_incident(day) -> None:
    _, store, _ = day
    first = min(_by_id(store))
    _write(store, _snapshot(store, vanished={first}))
    _write(store, _snapshot(store))  # reopened

    with pytest.raises(StatusConflict):
        store.put_feedback(first, FEEDBACK, "alice", utcnow())
    assert _by_id(store)[first]["feedback_at"] is None


def test_an_operator_transition_is_a_compare_and_set_on_the_expected_status(day) -> None:
    _, store, _ = day
    number = min(_by_id(store))
    store.set_incident_status(number, "ACK", None, utcnow())

    with pytest.raises(StatusConflict):
        store.set_incident_status(number, "RESOLVED", "manual_resolved", utcnow(), expected="OPEN")
    with pytest.raises(TransitionRefused):
        store.set_incident_status(number, "ACK", None, utcnow())
    row = _by_id(store)[number]
    assert (row["status"], row["resolution_reason"], row["resolved_at"]) == ("ACK", None, None)


def test_the_recompute_limit_follows_the_counts_made_in_sql(day) -> None:
    _, store, _ = day
    acked, resolved, untouched = sorted(_by_id(store))[:3]
    store.set_incident_status(acked, "ACK", None, utcnow())
    store.set_incident_status(resolved, "RESOLVED", "manual_resolved", utcnow())
    snapshot = _snapshot(store)  # every write below starts from this one, stale, snapshot
    limit = int(load_thresholds().Recovery.MAX_RECOMPUTE)

    for _ in range(limit):
        _write(store, snapshot)
    before = _by_id(store)
    _write(store, snapshot)
    after = _by_id(store)

    for number in (acked, untouched):  # unresolved: each reprocessing counts
        assert before[number]["recompute_count"] == limit
        assert before[number]["recompute_limit_exceeded"] is False
        assert after[number]["recompute_count"] == limit + 1
        assert after[number]["recompute_limit_exceeded"] is True
    assert (after[resolved]["recompute_count"], after[resolved]["recompute_limit_exceeded"]) == (
        0,
        False,
    )
    assert {after[n]["occurrence_count"] for n in (acked, resolved, untouched)} == {limit + 2}


# -- real races -----------------------------------------------------------------------------------
def _rerun_incidents(env: dict[str, str]) -> None:
    result = dg.materialize(
        graph_assets(),
        selection="incidents",
        partition_key=DAY,
        resources=build_resources(env),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success


def test_operators_resolving_while_the_day_reruns_lose_nothing(day) -> None:
    env, store, expected = day
    reruns = 3
    ids = sorted(_by_id(store))
    resolved: list[int] = []
    coverages: list[float] = []

    def operator() -> None:
        for number in ids:  # only this thread moves statuses: every transition must succeed
            store.set_incident_status(number, "RESOLVED", "manual_resolved", utcnow())
            store.put_feedback(number, FEEDBACK, "alice", utcnow())
            resolved.append(number)
            coverages.append(_coverage(store))

    def runs() -> None:
        for _ in range(reruns):
            _rerun_incidents(env)

    with ThreadPoolExecutor(2) as pool:
        pipeline = pool.submit(runs)
        people = pool.submit(operator)
        people.result(timeout=600)
        pipeline.result(timeout=600)

    after = _by_id(store)
    assert sorted(resolved) == ids
    for number in ids:
        assert after[number]["status"] == "RESOLVED", after[number]
        assert after[number]["resolution_reason"] == "manual_resolved"
        assert after[number]["resolved_at"] is not None
        assert after[number]["feedback_by"] == "alice"
        assert after[number]["occurrence_count"] == 1 + reruns
    assert max(coverages) <= 1.0
    assert _coverage(store) == 1.0
    assert len(after) == expected


def test_concurrent_reruns_of_a_day_lose_no_occurrence(day) -> None:
    env, store, expected = day
    per_thread = 2

    def runs() -> None:
        for _ in range(per_thread):
            _rerun_incidents(env)

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(runs) for _ in range(2)]:
            future.result(timeout=600)

    counts = [r["occurrence_count"] for r in _by_id(store).values()]
    assert counts == [1 + 2 * per_thread] * expected
