"""The five operator questions (SPEC §1) answered from the store and the Dagster instance.

1. Is it working?  2. How many incidents?  3. Did S1 explode?  4. Is feedback coming in?
5. Did a broken config get in?  ``invoice-ops status`` prints this; ``--json`` for scripts.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from invoice_assets.services.readiness import readiness
from invoice_assets.services.reporting import build_health_report, build_run_summary
from invoice_assets.services.settings import Settings
from resources.thresholds import check_thresholds


def recent_runs(settings: Settings, limit: int = 5) -> list[dict[str, Any]]:
    """The newest runs of the Dagster instance under DAGSTER_HOME (empty if it has none)."""
    from invoice_assets.services.dead_runs import open_instance

    instance = open_instance(settings.dagster_home)
    if instance is None:
        return []
    records = instance.get_run_records(limit=limit)
    return [
        {
            "run_id": r.dagster_run.run_id[:8],
            "job": r.dagster_run.job_name,
            "status": r.dagster_run.status.value,
            "partition": r.dagster_run.tags.get("dagster/partition")
            or r.dagster_run.tags.get("dagster/asset_partition_range_start"),
            "updated_at": r.update_timestamp.isoformat() if r.update_timestamp else None,
        }
        for r in records
    ]


def operator_status(settings: Settings, *, with_runs: bool = True) -> dict[str, Any]:
    thresholds, violations, source = check_thresholds()
    config = {
        "valid": thresholds is not None,
        "source": source,
        "violations": [str(v) for v in violations],
    }
    store = settings.store()
    out: dict[str, Any] = {"config": config}
    if thresholds is None:
        out["working"] = {"ready": False, "failing_checks": ["config"]}
        return out
    runs = recent_runs(settings) if with_runs else []  # (opens the instance the check reads)
    ready = readiness(
        store,
        thresholds,
        timeout_seconds=1.5,
        dagster_home=settings.dagster_home if with_runs else None,
    ).as_dict()
    out["working"] = {
        "ready": ready["status"] == "ready",
        "failing_checks": ready["failing_checks"],
        "last_activity": ready["last_activity"],
        "recent_runs": runs,
        "failed_runs": sum(1 for r in runs if r["status"] == "FAILURE"),
        "runs_check": ready["checks"]["runs"],
    }
    day = store.latest_day()
    if day is None:
        out["day"] = None
        return out
    week_start = (date.fromisoformat(day) - timedelta(days=6)).isoformat()
    daily = build_run_summary(store, day, day, thresholds)
    weekly = build_run_summary(store, week_start, day, thresholds)
    health = build_health_report(store, day, thresholds)
    open_by_severity: dict[str, int] = {}
    for (severity, status), count in store.incident_counts().items():
        if status != "RESOLVED":
            open_by_severity[severity] = open_by_severity.get(severity, 0) + count
    out["day"] = day
    out["incidents"] = {
        "day": daily["counts"]["incident_count"],
        "s1": daily["counts"]["s1_count"],
        "s2": daily["counts"]["s2_count"],
        "open_total": open_by_severity,
        "invoices": daily["counts"]["total_invoices"],
    }
    out["s1"] = {
        "s1_rate_day": daily["rates"]["s1_rate"],
        "s1_rate_7d": health["current"]["s1_rate"],
        "s1_rate_previous_7d": health["previous"]["s1_rate"],
        "drift": {name: d["triggered"] for name, d in health["drift"].items()},
        "alerts_24h": [
            {"severity": a["severity"], "code": a["code"], "message": a["message"]}
            for a in store.alerts(limit=20)
        ],
    }
    out["feedback"] = {
        "coverage_7d": weekly["rates"]["feedback_coverage"],
        "resolved_7d": weekly["counts"]["resolved_count"],
        "feedback_7d": weekly["counts"]["feedback_count"],
        "hint_accuracy_7d": weekly["rates"]["hint_accuracy_rate"],
    }
    return out


def render(status: dict[str, Any]) -> str:
    """The one-screen text answer."""
    c = status["config"]
    w = status["working"]
    lines = [
        f"1. working?      {'YES' if w['ready'] else 'NO'}"
        + (f"  failing: {', '.join(w['failing_checks'])}" if w["failing_checks"] else "")
        + (f"  failed runs (last {len(w.get('recent_runs', []))}): {w.get('failed_runs', 0)}"),
        *_run_problems(w.get("runs_check", {})),
    ]
    if status.get("day"):
        i, s, f = status["incidents"], status["s1"], status["feedback"]
        drift = [k for k, v in s["drift"].items() if v]
        lines += [
            f"2. incidents     {i['day']} on {status['day']} (S1 {i['s1']}, S2 {i['s2']}) "
            f"of {i['invoices']} invoices; open now {i['open_total'] or 0}",
            f"3. S1 exploded?  {'YES' if 'S1_RATE_DRIFT' in drift else 'no'}  s1 rate day "
            f"{s['s1_rate_day']:.1%}, 7d {s['s1_rate_7d']:.1%} vs {s['s1_rate_previous_7d']:.1%}"
            + (f"  drift: {', '.join(drift)}" if drift else ""),
            f"4. feedback?     coverage 7d {f['coverage_7d']:.1%} "
            f"({f['feedback_7d']}/{f['resolved_7d']} resolved), hint accuracy "
            f"{f['hint_accuracy_7d']:.1%}",
        ]
    else:
        lines += ["2-4.            no invoices processed yet (invoice-ops demo / run)"]
    lines.append(
        f"5. config        {'valid' if c['valid'] else 'BROKEN'} ({c['source']})"
        + ("".join(f"\n     - {v}" for v in c["violations"]))
    )
    return "\n".join(lines)


def _run_problems(check: dict[str, Any]) -> list[str]:
    """Lines naming dead runs, stuck runs and orphaned slots, with what to do about them."""
    lines = [
        f"   dead run {r['run_id'][:8]} ({r['process']}) still {r['status']}, holding "
        f"{', '.join(r['slots']) or 'no slot'}"
        for r in check.get("dead_runs", [])
    ]
    lines += [
        f"   stuck run {r['run_id'][:8]}: no event for {r['idle_minutes']} min ({r['state']})"
        for r in check.get("stuck_runs", [])
    ]
    lines += [
        f"   orphaned slot {o['pool']}/{o['step_key']} of run {o['run_id'][:8]}: {o['reason']}"
        for o in check.get("orphaned_slots", [])
    ]
    if lines:
        lines.append("   (RUNBOOK: dead runs; `invoice-ops run` reaps dead runs before it starts)")
    return lines
