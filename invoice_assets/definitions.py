"""The code location: load and validate the thresholds, then assemble assets, checks, jobs,
schedules, sensors and resources for this environment.

Loading ``config/thresholds.yaml`` here (and only here) at import is deliberate: a broken config
raises ``ThresholdsError`` listing every violation, so ``dagster definitions validate``, the UI and
every run refuse the code location instead of running with wrong thresholds.
"""

from __future__ import annotations

import os
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
from invoice_assets.jobs import daily_invoices_job
from invoice_assets.schedules import daily_schedule
from invoice_assets.sensors import (
    check_failure_alert_sensor,
    inbox_sensor,
    incident_alerts_sensor,
    run_failure_alert_sensor,
    stuck_sensor,
)
from invoice_assets.settings import Settings
from resources.alerts import AlertSink
from resources.extractor import InboxExtractor
from resources.inbox import InboxResource
from resources.market_data import MarketDataResource
from resources.openai_extractor import OpenAIExtractor
from resources.store import InvoiceStore
from resources.thresholds import ThresholdsError, ThresholdsResource, check_thresholds

ASSET_MODULES = (
    extractions,
    validated_invoices,
    offers,
    quality_scores,
    incidents,
    run_summary,
    system_health_report,
)


def build_resources(env: Mapping[str, str]) -> dict[str, object]:
    """Resources for the environment described by ``env`` (thresholds validated first)."""
    thresholds, violations, source = check_thresholds(env=env)
    if thresholds is None:
        raise ThresholdsError(violations, source)
    settings = Settings.from_env(env)
    store = InvoiceStore(
        db_url=dg.EnvVar("INVOICE_DB_URL") if settings.db_url else None, home=str(settings.home)
    )
    return {
        "thresholds": ThresholdsResource.from_thresholds(thresholds, source),
        "store": store,
        "inbox": InboxResource(path=str(settings.inbox)),
        "extractor": InboxExtractor(),
        "openai": openai_extractor(settings),
        "market_data": MarketDataResource(),
        "alerts": AlertSink(
            store=store,
            webhook_url=dg.EnvVar("INVOICE_ALERT_WEBHOOK_URL") if settings.webhook_url else None,
        ),
    }


def openai_extractor(settings: Settings) -> OpenAIExtractor:
    """Enabled when OPENAI_API_KEY is set (the key stays an EnvVar: never in config or the UI)."""
    if not settings.openai_api_key:
        return OpenAIExtractor(api_key="")
    return OpenAIExtractor(
        api_key=dg.EnvVar("OPENAI_API_KEY"),
        base_url=settings.openai_base_url,
        model=settings.openai_model or "gpt-4o-2024-08-06",
    )


def build_definitions(env: Mapping[str, str] | None = None) -> dg.Definitions:
    env = os.environ if env is None else env
    assets = dg.with_source_code_references(dg.load_assets_from_modules(list(ASSET_MODULES)))
    return dg.Definitions(
        assets=assets,
        jobs=[daily_invoices_job],
        schedules=[daily_schedule],
        sensors=[
            inbox_sensor,
            stuck_sensor,
            incident_alerts_sensor,
            run_failure_alert_sensor,
            check_failure_alert_sensor,
        ],
        resources=build_resources(env),
    )


defs = build_definitions()
