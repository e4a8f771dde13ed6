"""The extraction cache: answers already paid for, reused when nothing that shapes them changed.

What it is for: ``ExtractionCache`` keeps one extraction record per key in the store's
``extraction_cache`` table (SQLite or PostgreSQL). The key hashes the file's sha256, the model, the
prompt version and the answer-schema hash, so a rerun of unchanged files makes no API call and any
change to what is asked gives a miss. Personal data is masked before anything is stored.

Not for: deciding what to extract or retry (``resources/openai_extractor.py`` and the extractions
asset do), or the pipeline's own tables (``resources/store/resource.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Engine, delete, insert, select

from invoice_assets.domain.privacy import mask_pii
from invoice_assets.domain.records import ExtractionRecord, parse_record_bytes
from invoice_assets.kernel.clock import SYSTEM_CLOCK
from resources.store import schema as s
from resources.store.resource import InvoiceStore


class ExtractionCache:
    """Answers already paid for, in the store's ``extraction_cache`` table (SQLite or PostgreSQL).

    The key covers everything that changes the answer: the file's bytes, the model, the prompt
    version and the answer schema. An entry that no longer parses as a record is ignored.
    """

    def __init__(self, store: InvoiceStore | Engine) -> None:
        self.engine: Engine = store.engine if isinstance(store, InvoiceStore) else store

    @staticmethod
    def key(file_sha256: str, model: str, prompt_version: str, schema_hash: str) -> str:
        joined = "|".join((file_sha256, model, prompt_version, schema_hash))
        return hashlib.sha256(joined.encode("utf-8")).hexdigest()

    def get(self, key: str) -> ExtractionRecord | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, ExtractionRecord]:
        wanted = sorted(set(keys))
        table = s.extraction_cache
        found: dict[str, ExtractionRecord] = {}
        with self.engine.connect() as conn:
            for at in range(0, len(wanted), 500):
                chunk = wanted[at : at + 500]
                rows = conn.execute(
                    select(table.c.cache_key, table.c.record_json).where(
                        table.c.cache_key.in_(chunk)
                    )
                ).fetchall()
                for row in rows:
                    record = parse_record_bytes(str(row.record_json).encode("utf-8"))
                    if isinstance(record, ExtractionRecord):
                        found[str(row.cache_key)] = record
        return found

    def put(
        self,
        key: str,
        *,
        file_sha256: str,
        model: str,
        prompt_version: str,
        schema_hash: str,
        record: ExtractionRecord,
        raw_response: str | None,
        usage: Mapping[str, Any] | None,
    ) -> None:
        """Insert or replace one entry (delete + insert in one transaction: any backend)."""
        table = s.extraction_cache
        row = {
            "cache_key": key,
            "file_sha256": file_sha256,
            "model": model,
            "prompt_version": prompt_version,
            "schema_hash": schema_hash,
            "record_json": _masked_record(record).model_dump_json(),  # no personal data stored
            "raw_response": _masked_json_text(raw_response),
            "usage_json": json.dumps(dict(usage)) if usage is not None else None,
            "created_at": SYSTEM_CLOCK.now(),
        }
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.cache_key == key))
            conn.execute(insert(table).values(**row))


def _masked_record(record: ExtractionRecord) -> ExtractionRecord:
    """The record with personal data in its evidence masked (as the extractions table keeps it)."""
    fields = {
        name: value.model_copy(update={"evidence": mask_pii(value.evidence)})
        for name, value in record.extraction
    }
    return record.model_copy(update={"extraction": record.extraction.model_copy(update=fields)})


def _masked_json_text(raw: str | None) -> str | None:
    """A raw API answer with personal data masked in each string it holds (numbers, keys and
    structure kept); text that is not JSON is masked as a whole."""
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return mask_pii(raw)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return mask_pii(value)
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        return value

    return json.dumps(walk(data), ensure_ascii=False)
