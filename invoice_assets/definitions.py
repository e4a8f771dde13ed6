"""The code location: load and validate the thresholds, then assemble assets, checks, jobs,
schedules, sensors and resources for this environment.

Loading ``config/thresholds.yaml`` here (and only here) at import is deliberate: a broken config
raises ``ThresholdsError`` listing every violation, so ``dagster definitions validate``, the UI and
every run refuse the code location instead of running with wrong thresholds. The guard location
(``invoice_assets.guard``) loads without them and tells the webhook.

The daily assets are declared in their modules and built here for the settings' partition start
and backfill policy (``INVOICE_PARTITIONS_START``, ``INVOICE_BACKFILL_POLICY``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

import dagster as dg

from invoice_assets.assets import (
    extractions,
    incidents,
    offers,
    quality_scores,
    run_summary,
    system_health_report,
    validated_invoices,
)
from invoice_assets.assets.daily import DailyAsset
from invoice_assets.automation.jobs import build_daily_job
from invoice_assets.automation.schedules import build_daily_schedule, build_freshness
from invoice_assets.automation.sensors import (
    build_inbox_sensor,
    check_failure_alert_sensor,
    incident_alerts_sensor,
    stuck_sensor,
)
from invoice_assets.domain.thresholds import ThresholdsError
from invoice_assets.services.partitions import DailyLayout
from invoice_assets.services.settings import Settings
from resources.alerts import AlertSink
from resources.clock import ClockResource
from resources.extractor import InboxExtractor
from resources.inbox import InboxResource
from resources.market_data import MarketDataResource
from resources.openai_extractor import OpenAIExtractor
from resources.store import InvoiceStore
from resources.suppliers import SuppliersResource, suppliers_file
from resources.thresholds import ThresholdsResource, check_thresholds

DAILY_ASSETS: tuple[DailyAsset, ...] = (
    extractions.extractions,
    validated_invoices.validated_invoices,
    offers.offers,
    quality_scores.quality_scores,
    incidents.incidents,
    run_summary.run_summary,
    system_health_report.system_health_report,
)
# Dagster marks APIs these definitions use as beta or preview (partitioned asset checks, pools)
# or superseded (the time-partition freshness checks: the newer FreshnessPolicy has no per-check
# history a test or an operator can read): named once here, not printed per use at every load.
QUIET_WARNINGS = (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning)


def build_resources(env: Mapping[str, str]) -> dict[str, object]:
    """Resources for the environment described by ``env`` (thresholds validated first)."""
    thresholds, violations, source = check_thresholds(env=env)
    if thresholds is None:
        raise ThresholdsError(violations, source)
    settings = Settings.from_env(env)
    store = InvoiceStore(
        db_url=_secret(env, "INVOICE_DB_URL"), home=str(settings.home), **settings.store_sizes()
    )
    return {
        "thresholds": ThresholdsResource.from_thresholds(thresholds, source),
        "store": store,
        "inbox": InboxResource(path=str(settings.inbox)),
        "extractor": inbox_extractor(settings, thresholds.Validation.LOW_CONFIDENCE),
        "openai": openai_extractor(env, settings),
        "market_data": MarketDataResource(),
        "clock": ClockResource(),
        "suppliers": SuppliersResource(path=str(suppliers_file(env))),
        "alerts": AlertSink(
            store=store,
            webhook_url=_secret(env, "INVOICE_ALERT_WEBHOOK_URL"),
        ),
    }


def inbox_extractor(settings: Settings, low_confidence: float) -> InboxExtractor:
    """The router with the extraction mode and OCR switch of the environment."""
    mode, ocr = settings.extraction()
    return InboxExtractor(mode=mode, ocr=ocr, low_confidence=low_confidence)


def _secret(env: Mapping[str, str], name: str) -> str | dg.EnvVar | None:
    """``env[name]`` for a resource: as ``EnvVar(name)`` when the process environment holds that
    very value (Dagster then resolves it at run time and the UI shows the name, never the value),
    else the value itself (a mapping built for one call, e.g. the smoke test's throwaway store);
    ``None`` when unset. The process environment is never rewritten to make a name resolve."""
    value = env.get(name) or None
    if value is not None and os.environ.get(name) == value:
        return dg.EnvVar(name)
    return value


def openai_extractor(env: Mapping[str, str], settings: Settings) -> OpenAIExtractor:
    """Enabled when OPENAI_API_KEY is set (from the process environment the key stays an EnvVar:
    never in config or the UI)."""
    api_key = _secret(env, "OPENAI_API_KEY")
    if api_key is None:
        return OpenAIExtractor(api_key="")
    return OpenAIExtractor(
        api_key=api_key,
        base_url=settings.openai_base_url,
        model=settings.openai_model or "gpt-4o-2024-08-06",
    )


def build_definitions(env: Mapping[str, str] | None = None) -> dg.Definitions:
    env = os.environ if env is None else env
    with warnings.catch_warnings():
        for category in QUIET_WARNINGS:
            warnings.simplefilter("ignore", category)
        resources = build_resources(env)
        layout = Settings.from_env(env).layout()
        return _assemble(layout, resources)


def build_assets(layout: DailyLayout) -> list[dg.AssetsDefinition]:
    """The daily assets for a partition layout."""
    return [asset.build(layout) for asset in DAILY_ASSETS]


def _assemble(layout: DailyLayout, resources: dict[str, object]) -> dg.Definitions:
    assets = build_assets(layout)
    freshness_checks, freshness_sensor = build_freshness(assets)
    job = build_daily_job(freshness_checks)
    return dg.Definitions(
        assets=dg.with_source_code_references(assets),
        asset_checks=freshness_checks,
        jobs=[job],
        schedules=[build_daily_schedule(job)],
        sensors=[
            build_inbox_sensor(layout.partitions),
            stuck_sensor,
            incident_alerts_sensor,
            check_failure_alert_sensor,
            freshness_sensor,
        ],
        resources=resources,
        # Materialize and backfills from the UI run Dagster's implicit asset job: in-process,
        # like daily_invoices (one subprocess per step re-imports the code: ~5x the work).
        executor=dg.in_process_executor,
    )


defs = build_definitions()
