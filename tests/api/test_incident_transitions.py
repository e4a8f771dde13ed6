"""Concurrent status changes over HTTP against a real server, on SQLite and PostgreSQL.

Three RESOLVED and three ACK requests fired at once at each of 30 OPEN incidents: every change is
a compare-and-set on the status it read, so per incident at most one change succeeds on each
allowed path (OPEN → ACK, OPEN → RESOLVED, ACK → RESOLVED), the losers get 409 ``conflict`` (the
status moved under them) or ``invalid_status_transition`` (they read it already moved), and no
incident ends ACK with a resolution.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd

from invoice_assets.kernel.clock import SYSTEM_CLOCK
from tests.api.server import TOKEN, running_server, write_tokens
from tests.assets.helpers import store_for
from tests.incident_rows import open_incident

utcnow = SYSTEM_CLOCK.now  # the moment these tests stamp their writes with

DAY = "2025-02-07"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
INCIDENTS = 30
EACH = ("RESOLVED", "ACK") * 3


def _open_incidents(env: dict[str, str], n: int) -> list[int]:
    store = store_for(env)
    store.ensure_schema()
    rows = [open_incident(f"{i:064x}", DAY, f"K{i}") for i in range(n)]
    empty = pd.DataFrame(columns=["dedupe_key"])
    store.write_incidents(pd.DataFrame(rows), empty, "default", utcnow(), max_recompute=5)
    return sorted(r["incident_id"] for r in store.list_incidents(limit=n))


def test_simultaneous_changes_of_each_incident_let_one_win_per_path(
    tmp_path: Path, env: dict[str, str]
) -> None:
    env = env | {"INVOICE_OPS_TOKENS_FILE": str(write_tokens(tmp_path / "tokens.yaml"))}
    ids = _open_incidents(env, INCIDENTS)
    barriers = {number: threading.Barrier(len(EACH)) for number in ids}

    with running_server(env, tmp_path / "server.log") as base:
        client = httpx.Client(base_url=base, headers=AUTH, timeout=30)

        def change(number: int, status: str) -> tuple[int, str, int, dict]:
            barriers[number].wait(timeout=60)  # the six requests of one incident leave together
            response = client.post(f"/admin/incidents/{number}/status", json={"status": status})
            return number, status, response.status_code, response.json()

        with client, ThreadPoolExecutor(len(EACH) * 5) as pool:
            jobs = [pool.submit(change, n, status) for n in ids for status in EACH]
            answers = [job.result(timeout=120) for job in jobs]
            final = {
                n: client.get(f"/admin/incidents/{n}").json() for n in ids
            }  # read after every answer

    wins: dict[int, Counter[str]] = {n: Counter() for n in ids}
    for number, status, code, body in answers:
        if code == 200:
            wins[number][status] += 1
            if status == "ACK":
                assert body["resolution_reason"] is None and body["resolved_at"] is None
        else:
            assert code == 409, body
            assert body["detail"]["code"] in {"conflict", "invalid_status_transition"}, body
    for number in ids:
        row, won = final[number], wins[number]
        assert won["ACK"] <= 1 and won["RESOLVED"] <= 1, (number, won)
        assert sum(won.values()) >= 1, (number, won)  # someone always wins from OPEN
        if row["status"] == "ACK":
            assert won == Counter({"ACK": 1}), (number, won)
            assert row["resolution_reason"] is None and row["resolved_at"] is None, row
        else:
            assert row["status"] == "RESOLVED", row
            assert won["RESOLVED"] == 1, (number, won)
            assert row["resolution_reason"] == "manual_resolved" and row["resolved_at"], row
    assert sum(w["ACK"] + w["RESOLVED"] for w in wins.values()) <= 2 * INCIDENTS
