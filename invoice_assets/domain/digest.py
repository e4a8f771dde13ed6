"""Digest alert rules (SPEC §3, Alert.*): which operational rates cross their thresholds.

Pure: the caller gathers the counts; this decides severity, code and message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from invoice_assets.domain.arrays import rate

if TYPE_CHECKING:
    from resources.thresholds import Thresholds


@dataclass(frozen=True)
class AlertSpec:
    severity: str  # INFO, WARNING, ERROR, CRITICAL
    code: str
    message: str
    context: dict[str, Any]


def digest_alerts(counts: dict[str, int], t: Thresholds) -> list[AlertSpec]:
    """Alerts for ``counts`` with keys incidents, calc_bug_incidents, extraction_attempted,
    extraction_exhausted, stuck_items, recompute_limit_exceeded."""
    a = t.Alert
    out: list[AlertSpec] = []
    bug_rate = rate(counts.get("calc_bug_incidents", 0), counts.get("incidents", 0))
    if counts.get("incidents", 0) and bug_rate >= a.BUG_REPORT_RATE:
        out.append(
            AlertSpec(
                "ERROR",
                "BUG_REPORT_RATE",
                f"CALC_BUG incidents are {bug_rate:.1%} of incidents",
                {"rate": bug_rate, "calc_bug_incidents": counts.get("calc_bug_incidents", 0)},
            )
        )
    exhausted = rate(counts.get("extraction_exhausted", 0), counts.get("extraction_attempted", 0))
    if counts.get("extraction_attempted", 0) and exhausted >= a.EXHAUSTED_RATE:
        out.append(
            AlertSpec(
                "ERROR",
                "EXHAUSTED_RATE",
                f"{exhausted:.1%} of extraction attempts are exhausted",
                {"rate": exhausted, "exhausted": counts.get("extraction_exhausted", 0)},
            )
        )
    if counts.get("stuck_items", 0) >= a.STUCK_COUNT:
        out.append(
            AlertSpec(
                "CRITICAL",
                "STUCK_COUNT",
                f"{counts['stuck_items']} stuck run(s) or queue item(s)",
                {"stuck_items": counts["stuck_items"]},
            )
        )
    if counts.get("recompute_limit_exceeded", 0) >= a.RECOMPUTE_LIMIT:
        out.append(
            AlertSpec(
                "WARNING",
                "RECOMPUTE_LIMIT",
                f"{counts['recompute_limit_exceeded']} incident(s) past the recompute limit",
                {"incidents": counts["recompute_limit_exceeded"]},
            )
        )
    return out


def drift_alerts(report: dict[str, Any], day: str) -> list[AlertSpec]:
    """One alert per triggered drift metric of a system health report (S1 drift is CRITICAL)."""
    out = []
    for metric, drift in report["drift"].items():
        if drift["triggered"]:
            out.append(
                AlertSpec(
                    "CRITICAL" if metric == "S1_RATE_DRIFT" else "WARNING",
                    metric,
                    f"{metric} on {day}: rate {drift['current_rate']:.1%} "
                    f"(previous {drift['previous_rate']:.1%})",
                    {"day": day, **drift},
                )
            )
    return out
