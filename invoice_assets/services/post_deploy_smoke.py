"""The post-deploy smoke test (seed §5.2, §11): the seven steps through the real asset graph.

Runs against a throwaway store (a temporary SQLite file, or a temporary database on a given
PostgreSQL server) and an ephemeral Dagster instance, so it never touches production data.
``invoice-ops smoke`` prints each step and exits 0 when all pass, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoice_assets.services.smoke_fixtures import SMOKE_DIR

if TYPE_CHECKING:
    import dagster as dg

SMOKE_DAY = "2025-02-03"


@dataclass
class SmokeReport:
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(step["ok"] for step in self.steps)

    def step(self, name: str, ok: bool, **detail: Any) -> bool:
        self.steps.append({"step": name, "ok": bool(ok), **detail})
        return bool(ok)


@contextmanager
def throwaway_store(postgres_url: str | None) -> Iterator[tuple[Path, str | None]]:
    """A temporary home, and a temporary PostgreSQL database when a server URL is given."""
    home = Path(tempfile.mkdtemp(prefix="invoice-smoke-"))
    db_url = None
    admin = None
    name = f"invoice_smoke_{uuid.uuid4().hex[:10]}"
    try:
        if postgres_url:
            from sqlalchemy import create_engine, text

            admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            db_url = admin.url.set(database=name).render_as_string(hide_password=False)
        yield home, db_url
    finally:
        if admin is not None:
            from sqlalchemy import text

            from resources.store import dispose_engine

            if db_url:
                dispose_engine(db_url)
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(home, ignore_errors=True)


def run_smoke(
    build_definitions: Callable[[Mapping[str, str]], dg.Definitions],
    postgres_url: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> SmokeReport:
    """The seven steps on a throwaway store; ``build_definitions`` makes the code location's
    definitions for an environment mapping (the caller's: this layer never imports them)."""
    import dagster as dg

    from invoice_assets.domain.feedback import feedback_stats, validate_feedback
    from invoice_assets.domain.summary import schema_errors
    from invoice_assets.kernel.clock import SYSTEM_CLOCK
    from invoice_assets.services.materialise import QUIET
    from invoice_assets.services.reporting import build_health_report, build_run_summary
    from invoice_assets.services.settings import Settings
    from resources.thresholds import load_thresholds

    report = SmokeReport()
    expected = json.loads((SMOKE_DIR / "expected.json").read_text(encoding="utf-8"))
    with throwaway_store(postgres_url) as (home, db_url):
        # The live thresholds (file and overrides) with a throwaway home and store.
        env = {k: v for k, v in os.environ.items() if k not in ("INVOICE_DB_URL", "INVOICE_INBOX")}
        env |= {"INVOICE_HOME": str(home)} | ({"INVOICE_DB_URL": db_url} if db_url else {})
        settings = Settings.from_env(env)
        store = settings.store()
        # 1. setup: a clean store and the three fixtures in the inbox
        folder = settings.inbox / SMOKE_DAY
        folder.mkdir(parents=True)
        for name in expected:
            shutil.copy(SMOKE_DIR / f"{name}.json", folder / f"{name}.json")
        report.step("1 setup", store.count_rows("incidents") == 0, store=store.backend)
        progress("1 setup: clean store, 3 fixtures")
        # 2. extraction + validation + pricing + quality: the whole graph for the day
        job = build_definitions(env).resolve_job_def("daily_invoices")
        result = job.execute_in_process(
            partition_key=SMOKE_DAY,
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
            run_config=QUIET,
        )
        checks = {
            data.check_name: data.passed
            for data in (e.event_specific_data for e in result.all_events)
            if isinstance(data, dg.AssetCheckEvaluation)
        }
        report.step(
            "2 pipeline",
            result.success and len(store.read_stage("extractions", [SMOKE_DAY])) == 3,
            checks=checks,
        )
        progress(f"2 pipeline: {'ok' if result.success else 'FAILED'}")
        # 3. incidents
        incidents = {
            i["invoice_key"].split("|")[1].removeprefix("SMOKE-"): i for i in store.list_incidents()
        }
        problems = []
        for name, want in expected.items():
            got = incidents.get(name)
            if want["incident_created"] != (got is not None):
                problems.append(f"{name}: incident {got is not None}")
            elif got is not None:
                if (
                    got["severity"] != want["severity"]
                    or got["primary_flag"] != want["primary_flag"]
                ):
                    problems.append(f"{name}: {got['severity']} {got['primary_flag']}")
                for key, value in want["action_hint"].items():
                    if got["action_hint"][key] != value:
                        problems.append(f"{name}: {key} {got['action_hint'][key]}")
        report.step("3 incidents", not problems, problems=problems, count=len(incidents))
        progress(f"3 incidents: {len(incidents)} ({problems or 'ok'})")
        # 4. system health snapshot
        t = load_thresholds()
        health = build_health_report(store, SMOKE_DAY, t)
        summary = build_run_summary(store, SMOKE_DAY, SMOKE_DAY, t)
        histogram_ok = health["histogram"] == {
            "0-2%": 0,
            "2-5%": 0,
            "5-10%": 0,
            "10-20%": 1,
            "20%+": 1,
        }
        report.step(
            "4 system health",
            histogram_ok and summary["errors"]["total_5xx"] == 0 and not schema_errors(summary),
            histogram=health["histogram"],
            total_5xx=summary["errors"]["total_5xx"],
        )
        progress(f"4 system health: histogram {health['histogram']}")
        # 5. feedback write on the S2 incident
        s2 = incidents.get("s2_mismatch_invoice")
        ok5 = False
        if s2 is not None:
            before = s2["updated_at"]
            store.set_incident_status(
                s2["incident_id"], "RESOLVED", "manual_resolved", SYSTEM_CLOCK.now()
            )
            feedback = validate_feedback(
                {
                    "action_taken": "VERIFIED_LOGIC",
                    "was_hint_correct": True,
                    "resolution_time_seconds": 60,
                }
            )
            after = store.put_feedback(s2["incident_id"], feedback, "smoke", SYSTEM_CLOCK.now())
            ok5 = bool(after and after["feedback_json"] and after["updated_at"] > before)
        report.step("5 feedback write", ok5)
        progress(f"5 feedback write: {'ok' if ok5 else 'FAILED'}")
        # 6. feedback stats
        stats = feedback_stats(store.incident_frame(SMOKE_DAY, SMOKE_DAY))
        report.step(
            "6 feedback stats",
            stats["feedback_coverage"] > 0 and stats["hint_accuracy_rate"] == 1.0,
            stats={k: stats[k] for k in ("feedback_coverage", "hint_accuracy_rate")},
        )
        progress(f"6 feedback stats: coverage {stats['feedback_coverage']:.0%}")
        # 7. all fixtures processed, incidents as expected, report valid, feedback loop works
        report.step("7 summary", all(s["ok"] for s in report.steps))
    return report
