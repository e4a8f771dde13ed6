"""The daily job: every asset of a day's partition, in one process (the stages are vectorised;
a subprocess per step would cost far more than the work)."""

from __future__ import annotations

import dagster as dg

from invoice_assets.partitions import daily_partitions

daily_invoices_job = dg.define_asset_job(
    "daily_invoices",
    selection=dg.AssetSelection.groups("invoices", "monitoring"),
    partitions_def=daily_partitions,
    executor_def=dg.in_process_executor,
    description="Extract, validate, price, score and raise incidents for one inbox day.",
)
