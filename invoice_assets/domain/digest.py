"""Alert rules and identity (SPEC §3 Alert.*, §6): which operational rates cross their
thresholds, which drift triggers, and what makes two alerts the same alert.

An alert is identified by (rule, day, tenant) — plus a subject where one day can hold several
(a run id) — so a rerun or a sensor restart finds the alert it already sent; its fingerprint
(severity, message, context) says whether the value changed. Pure: the caller gathers the counts
and stores the alerts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from invoice_assets.domain.arrays import rate

if TYPE_CHECKING:
    from invoice_assets.domain.thresholds import Thresholds


@dataclass(frozen=True)
class AlertSpec:
    severity: str  # INFO, WARNING, ERROR, CRITICAL
    code: str  # the rule
    message: str
    context: dict[str, Any]
    day: str = ""  # the inbox day it is about ("" when it is about no day)
    subject: str = ""  # what else tells two alerts of one rule and day apart (a run id)

    def key(self, tenant: str) -> str:
        """The alert's identity: the same rule, day, tenant and subject is the same alert."""
        return _digest([self.code, self.day, tenant, self.subject])

    def fingerprint(self) -> str:
        """What the alert says; a changed fingerprint is a changed value."""
        return _digest([self.severity, self.message, self.context])


def _digest(parts: list[Any]) -> str:
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def digest_alerts(counts: dict[str, int], t: Thresholds, day: str = "") -> list[AlertSpec]:
    """Alerts for ``counts`` (of ``day``) with keys incidents, calc_bug_incidents,
    extraction_attempted, extraction_exhausted, stuck_items, recompute_limit_exceeded."""
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
                day=day,
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
                day=day,
            )
        )
    if counts.get("stuck_items", 0) >= a.STUCK_COUNT:
        out.append(
            AlertSpec(
                "CRITICAL",
                "STUCK_COUNT",
                f"{counts['stuck_items']} stuck run(s) or queue item(s)",
                {"stuck_items": counts["stuck_items"]},
                day=day,
            )
        )
    if counts.get("recompute_limit_exceeded", 0) >= a.RECOMPUTE_LIMIT:
        out.append(
            AlertSpec(
                "WARNING",
                "RECOMPUTE_LIMIT",
                f"{counts['recompute_limit_exceeded']} incident(s) past the recompute limit",
                {"incidents": counts["recompute_limit_exceeded"]},
                day=day,
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
                    day=day,
                )
            )
    return out
