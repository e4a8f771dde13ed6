"""The store's tables (SQLAlchemy Core), one schema for SQLite and PostgreSQL.

Stage tables are keyed by ``(day, invoice_key)``: ``day`` is the inbox day (the Dagster
partition), so a stage rewrites its partition with one delete and one bulk insert. Column lists
follow the domain frames; JSON documents are stored as text so both backends behave alike.

``SCHEMA_VERSION`` is bumped with an entry in ``MIGRATIONS`` (``migrations.py``) whenever a table
changes.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeEngine

from invoice_assets.domain.frames import INVOICE_COLUMNS
from invoice_assets.domain.records import NUMERIC_FIELDS

SCHEMA_VERSION = 4
metadata = MetaData()

FLOAT, TEXT, INT, BOOL = Float(precision=53), Text(), Integer(), Boolean()
TS = DateTime(timezone=True)


def _key() -> list[Column]:
    return [
        Column("day", String(10), primary_key=True),
        Column("invoice_key", Text, primary_key=True),
    ]


def _cols(spec: dict[str, TypeEngine]) -> list[Column]:
    return [Column(name, kind) for name, kind in spec.items()]


_numeric = set(NUMERIC_FIELDS) | {f"conf_{n}" for n in NUMERIC_FIELDS}
EXTRACTION_SPEC: dict[str, TypeEngine] = {
    name: (FLOAT if name in _numeric else INT if name == "line_no" else TEXT)
    for name in INVOICE_COLUMNS
    if name != "invoice_key"
} | {
    "extraction_ms": FLOAT,
    "http_status": INT,
    "started_at": TS,
}
VALIDATION_SPEC: dict[str, TypeEngine] = {
    "current_energy_tl": FLOAT,
    "current_distribution_tl": FLOAT,
    "current_demand_tl": FLOAT,
    "current_btv_tl": FLOAT,
    "current_vat_tl": FLOAT,
    "computed_total_tl": FLOAT,
    "mismatch_evaluated": BOOL,
    "has_mismatch": BOOL,
    "mismatch_delta": FLOAT,
    "mismatch_ratio": FLOAT,
    "mismatch_severity": TEXT,
    "delta_reason_candidate": TEXT,
    "suspect_reason": TEXT,
    "is_ready_for_pricing": BOOL,
    "error_count": INT,
    "warning_count": INT,
    "consumption_missing": BOOL,
    "other_fields_missing": BOOL,
    "has_validation_errors": BOOL,
    "hard_stop": BOOL,
    "has_warnings": BOOL,
    "low_confidence": BOOL,
    "errors_json": TEXT,
    "warnings_json": TEXT,
}
OFFER_SPEC: dict[str, TypeEngine] = {
    "offer_status": TEXT,
    "offer_reason": TEXT,
    "invoice_period": TEXT,
    "ptf_tl_per_mwh": FLOAT,
    "yekdem_tl_per_mwh": FLOAT,
    "price_source": TEXT,
    "tariff_dist_tl_per_kwh": FLOAT,
    "offer_energy_tl": FLOAT,
    "offer_distribution_tl": FLOAT,
    "offer_demand_tl": FLOAT,
    "offer_btv_tl": FLOAT,
    "offer_vat_tl": FLOAT,
    "offer_total_tl": FLOAT,
    "savings_tl": FLOAT,
    "savings_ratio": FLOAT,
    "annual_saving_tl": FLOAT,
    "market_price_missing": BOOL,
    "market_price_estimated": BOOL,
    "tariff_meta_missing": BOOL,
    "tariff_lookup_failed": BOOL,
    "distribution_mismatch": BOOL,
    "calc_bug": BOOL,
}
SCORE_SPEC: dict[str, TypeEngine] = {
    "quality_score": FLOAT,
    "quality_grade": TEXT,
    "flag_count": INT,
    "flags": TEXT,
}

extractions = Table("extractions", metadata, *_key(), *_cols(EXTRACTION_SPEC))
line_items = Table(
    "line_items",
    metadata,
    *_key(),
    Column("line", Integer, primary_key=True),
    *_cols(
        {
            "label": TEXT,
            "qty": FLOAT,
            "unit": TEXT,
            "unit_price": FLOAT,
            "amount_tl": FLOAT,
            "confidence": FLOAT,
        }
    ),
)
validations = Table("validations", metadata, *_key(), *_cols(VALIDATION_SPEC))
offers = Table("offers", metadata, *_key(), *_cols(OFFER_SPEC))
quality_scores = Table("quality_scores", metadata, *_key(), *_cols(SCORE_SPEC))
flags = Table(
    "flags",
    metadata,
    *_key(),
    Column("flag", String(64), primary_key=True),
    *_cols({"severity": TEXT, "deduction": INT, "priority": INT}),
)

incidents = Table(
    "incidents",
    metadata,
    Column("incident_id", Integer, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(64), nullable=False, unique=True),
    Column("day", String(10), nullable=False, index=True),
    Column("invoice_key", Text, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("supplier", Text),  # a known supplier's table name, else the printed name
    Column("supplier_id", Text),  # canonical (SPEC §4.1): grouping and the invoice key
    Column("invoice_no", Text),
    Column("invoice_period", Text),
    Column("source_file", Text),
    Column("severity", String(2), nullable=False),
    Column("primary_flag", String(64), nullable=False),
    Column("secondary_flags", Text, nullable=False),  # JSON list
    Column("action_class", String(64)),
    Column("action_hint", Text),  # JSON
    Column("mismatch_info", Text),  # JSON or null
    Column("ocr_suspect", Boolean, nullable=False, default=False),
    Column("error_code", Text),
    Column("status", String(16), nullable=False),
    Column("resolution_reason", String(64)),
    Column("resolved_at", TS),
    Column("occurrence_count", Integer, nullable=False),
    Column("recompute_count", Integer, nullable=False),
    Column("recompute_limit_exceeded", Boolean, nullable=False),
    Column("first_seen_at", TS, nullable=False),
    Column("last_seen_at", TS, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("feedback_json", Text),
    Column("was_hint_correct", Boolean),
    Column("resolution_time_seconds", Float(precision=53)),
    Column("feedback_by", Text),
    Column("feedback_at", TS),
    Index("ix_incidents_invoice", "invoice_key"),
    Index("ix_incidents_status", "status"),
)

# Incidents folded into another when a migration made their keys one (schema 4: two printed
# forms of one supplier): each merged incident's row as it was, so no operator work is lost.
incident_merges = Table(
    "incident_merges",
    metadata,
    Column("merge_id", Integer, primary_key=True, autoincrement=True),
    Column("merged_at", TS, nullable=False),
    Column("survivor_id", Integer, nullable=False, index=True),
    Column("merged_incident_id", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("incident_json", Text, nullable=False),
)

inbox_files = Table(
    "inbox_files",
    metadata,
    Column("file_id", Integer, primary_key=True, autoincrement=True),
    Column("day", String(10), nullable=False),
    Column("file_name", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # received, processing, done, failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("items", Integer),
    Column("failed_items", Integer),
    Column("error_code", Text),
    Column("registered_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    UniqueConstraint("day", "file_name", name="uq_inbox_day_file"),
    Index("ix_inbox_status", "status"),
)

queue_samples = Table(
    "queue_samples",
    metadata,
    Column("sample_id", Integer, primary_key=True, autoincrement=True),
    Column("at", TS, nullable=False, index=True),
    Column("depth", Integer, nullable=False),
)

# When the incidents of a day were last decided: one row per day, so a run stamps one row
# instead of rewriting every extraction row (PostgreSQL writes a new version of each). An
# invoice's pipeline latency is this time minus its ``started_at``, computed when read.
decisions = Table(
    "decisions",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("decided_at", TS, nullable=False),
)

run_summaries = Table(
    "run_summaries",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("generated_at", TS, nullable=False),
    Column("summary_json", Text, nullable=False),
)

health_reports = Table(
    "health_reports",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("generated_at", TS, nullable=False),
    Column("report_json", Text, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", Integer, primary_key=True, autoincrement=True),
    Column("alert_key", String(64), unique=True),  # sha256 of rule | day | tenant | subject
    Column("day", String(10)),  # the inbox day it is about ("" for none)
    Column("tenant", Text),
    Column("fingerprint", String(64)),  # of severity, message and context
    Column("revision", Integer),  # 1, then + 1 each time its value changed
    Column("created_at", TS, nullable=False, index=True),
    Column("updated_at", TS),
    Column("severity", String(16), nullable=False),
    Column("code", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("context_json", Text, nullable=False),
    Column("delivered", Boolean, nullable=False, default=False),
    Column("delivery_attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
)

request_log = Table(
    "request_log",
    metadata,
    Column("request_id", Integer, primary_key=True, autoincrement=True),
    Column("at", TS, nullable=False, index=True),
    Column("method", String(8), nullable=False),
    Column("path", Text, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("duration_ms", Float(precision=53), nullable=False),
    Column("operator", Text),
    Column("error_code", Text),
)

extraction_cache = Table(
    "extraction_cache",
    metadata,
    Column("cache_key", String(64), primary_key=True),
    Column("file_sha256", String(64), nullable=False),
    Column("model", Text, nullable=False),
    Column("prompt_version", Text, nullable=False),
    Column("schema_hash", String(64), nullable=False),
    Column("record_json", Text, nullable=False),
    Column("raw_response", Text),
    Column("usage_json", Text),
    Column("created_at", TS, nullable=False),
)

store_meta = Table(
    "store_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

STAGE_TABLES = {
    "extractions": extractions,
    "line_items": line_items,
    "validations": validations,
    "offers": offers,
    "quality_scores": quality_scores,
    "flags": flags,
}
