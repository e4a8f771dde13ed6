"""``quality_scores``: flags from the flag catalogue and the 0–100 score with its grade (§5.4).

A day is read, scored and written in chunks of invoice keys (``reads.invoice_chunks``), all in one
replacement; the day's figures are added up from its chunks.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

import dagster as dg
import numpy as np
import pandas as pd

from invoice_assets.assets.daily import DayReport, daily_asset, rounded
from invoice_assets.assets.reads import (
    invoice_chunks,
    keyed,
    md_counts,
    read_chunk_aligned,
)
from invoice_assets.domain.quality import (
    FLAG_FACTS,
    FLAG_OFFER_FACTS,
    raise_flags,
    score_invoices,
)
from resources.store import InvoiceStore
from resources.store import schema as s
from resources.thresholds import ThresholdsResource


@dataclass
class _Tally:
    """A day's score figures, added up chunk by chunk. A chunk of whole-number scores (the
    catalogue's deductions are whole) adds its exact sum; a chunk with fractional scores is kept,
    so a one-chunk day's mean is exactly what ``Series.mean`` gives for it."""

    rows: int = 0
    whole: int = 0  # exact sum of the whole-number chunks' scores (NaN skipped, as ``mean``)
    valued: int = 0  # their scores that are not NaN
    fractional: list[np.ndarray] = field(default_factory=list)
    grades: dict[str, int] = field(default_factory=dict)
    flags: dict[str, int] = field(default_factory=dict)

    def add(self, stored: pd.DataFrame, flags: pd.Series) -> None:
        scores = stored["quality_score"].to_numpy(dtype="float64")
        self.rows += len(scores)
        valued = scores[~np.isnan(scores)]
        if (valued == np.round(valued)).all():
            self.whole += int(valued.sum())
            self.valued += len(valued)
        else:
            self.fractional.append(valued)
        for grade, count in stored["quality_grade"].value_counts().items():
            self.grades[grade] = self.grades.get(grade, 0) + int(count)
        for flag, count in flags.value_counts().items():
            self.flags[flag] = self.flags.get(flag, 0) + int(count)

    def mean(self) -> float:
        if not self.fractional:
            return self.whole / self.valued if self.valued else float("nan")
        rest = pd.Series(np.concatenate(self.fractional))
        if not self.valued:
            return float(rest.mean())
        return (self.whole + float(rest.sum())) / (self.valued + len(rest))

    def figures(self) -> dict[str, object]:
        return {
            "dagster/row_count": self.rows,
            "mean_quality_score": rounded(self.mean()) if self.rows else 0.0,
            "grade_ok": self.grades.get("OK", 0),
            "grade_check": self.grades.get("CHECK", 0),
            "grade_bad": self.grades.get("BAD", 0),
            "flags": md_counts(dict(sorted(self.flags.items())), "flag", "invoices"),
        }


@daily_asset(
    group="invoices",
    tables=(s.quality_scores, s.flags),
    deps=["extractions", "validated_invoices", "offers"],
)
def quality_scores(
    context: dg.AssetExecutionContext, store: InvoiceStore, thresholds: ThresholdsResource
):
    """Quality score, grade and ordered flag list per invoice; the long flag table beside it."""
    report = DayReport(context)
    days = report.days
    t = thresholds.get()
    tallies = {day: _Tally() for day in days}

    def frames() -> Iterator[dict[str, pd.DataFrame]]:
        for chunk, invoices in invoice_chunks(store, days, context.run_id):
            facts = read_chunk_aligned(store, "validations", invoices, chunk, FLAG_FACTS)
            offers = read_chunk_aligned(store, "offers", invoices, chunk, FLAG_OFFER_FACTS)
            flags = raise_flags(invoices, facts, offers)
            scores = score_invoices(flags, len(invoices), t)
            rows = flags["row"].to_numpy()
            flag_rows = flags.assign(
                day=invoices["day"].to_numpy()[rows],
                invoice_key=invoices["invoice_key"].to_numpy()[rows],
            ).drop(columns=["row"])
            stored = keyed(invoices, scores)
            del invoices, facts, offers, flags, scores
            tallies[chunk.day].add(stored, flag_rows["flag"])
            yield {"quality_scores": stored, "flags": flag_rows}

    store.replace_partitions_streamed(["quality_scores", "flags"], days, frames())
    for day in days:
        report.day(day, tallies[day].figures())
    yield from report.results()
