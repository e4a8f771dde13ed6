"""``invoice-ops extract [--json] FILE...``: what the platform reads from files, without the store.

Each file goes through the same router as the ``extractions`` asset (``InboxExtractor``: sniffed
content, the extraction mode of ``INVOICE_EXTRACTION_MODE`` or ``--mode``, OCR unless
``INVOICE_OCR=off`` or ``--no-ocr``, OpenAI only when ``OPENAI_API_KEY`` is set and the mode asks
for it). ``--json`` prints ``[{"file", "method", "seconds", "records", "error", "errors"}]``:
``records`` are SPEC §4.1 records, ``error`` the first failure (``{"code", "message"}``) or null,
``errors`` every failure (a zip member, a bundle's invoice). Exit 0 when every file gave records
and no failure, 1 when some file failed, 2 on bad usage (no such file, a bad option).

Not for: putting files in the inbox (``ingest``) or running the pipeline (``run``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from invoice_assets.commands.common import EXIT_FAIL, EXIT_INVALID, EXIT_OK, emit, fail

KEY_SHOWN = (
    "consumption_kwh",
    "current_active_unit_price_tl_per_kwh",
    "invoice_total_with_vat_tl",
    "payable_tl",
)


def extract_files(
    paths: list[Path],
    *,
    mode: str,
    ocr: bool,
    max_document_bytes: int,
    max_pages: int,
    openai: Any = None,
) -> list[dict[str, Any]]:
    """One report per file (the shape ``--json`` prints)."""
    from resources.extractor import InboxExtractor, Outcome

    router = InboxExtractor(
        mode=mode, ocr=ocr, max_document_bytes=max_document_bytes, max_pages=max_pages
    )
    reports = []
    for path in paths:
        started = time.perf_counter()
        document, failure = router.read_document(path, path.name)
        if failure is not None:
            outcome = Outcome("records", failure)
        else:
            assert document is not None
            (outcome,), _ = router.route([document], openai)
        seconds = time.perf_counter() - started
        records = [
            x.item.record.model_dump(mode="json")
            for x in outcome.items
            if x.item.record is not None
        ]
        errors = [
            {"code": x.item.error.code, "message": x.item.error.message}
            for x in outcome.items
            if x.item.error is not None
        ]
        reports.append(
            {
                "file": str(path),
                "method": outcome.method,
                "seconds": round(seconds, 3),
                "records": records,
                "error": errors[0] if errors else None,
                "errors": errors,
            }
        )
    return reports


def _text(reports: list[dict[str, Any]]) -> str:
    lines = []
    for report in reports:
        head = f"{report['file']}: {report['method']}, {len(report['records'])} record(s)"
        lines.append(f"{head}, {report['seconds']:.2f} s")
        for record in report["records"]:
            meta = record["invoice"]
            lines.append(
                f"  {meta.get('invoice_no') or '-'} {meta.get('invoice_period') or '-'} "
                f"{meta.get('supplier')}"
            )
            for name in KEY_SHOWN:
                field = record["extraction"].get(name) or {}
                shown = f"{field.get('value')} (confidence {field.get('confidence', 0):.2f})"
                lines.append(f"    {name}: {shown}")
        for error in report["errors"]:
            lines.append(f"  error {error['code']}: {error['message']}")
    return "\n".join(lines)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per file).")
@click.option(
    "--mode",
    type=click.Choice(["offline", "openai", "auto", "compare"]),
    default=None,
    help="Extraction mode (default: INVOICE_EXTRACTION_MODE, else auto).",
)
@click.option("--no-ocr", is_flag=True, help="Do not OCR image-only pages and images.")
@click.option(
    "--max-bytes",
    type=click.IntRange(min=1),
    default=50 * 1024 * 1024,
    show_default=True,
    help="Size limit of one document.",
)
@click.option(
    "--max-pages", type=click.IntRange(min=1), default=500, show_default=True, help="Page limit."
)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def extract(
    as_json: bool,
    mode: str | None,
    no_ocr: bool,
    max_bytes: int,
    max_pages: int,
    files: tuple[Path, ...],
) -> None:
    """Read invoice FILEs (PDF, image, UBL-TR XML or zip, HTML, JSON records) and print the
    records the platform would store, without the store or Dagster."""
    from invoice_assets.services.settings import Settings, SettingsError

    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        fail(f"no such file: {', '.join(missing)}", EXIT_INVALID)
    settings = Settings.from_env()
    try:
        env_mode, env_ocr = settings.extraction()
    except SettingsError as exc:
        fail(str(exc), EXIT_INVALID)
        raise
    openai = None
    if settings.openai_api_key:
        from resources.openai_extractor import OpenAIExtractor

        key, url = settings.openai_api_key, settings.openai_base_url
        if settings.openai_model:
            openai = OpenAIExtractor(api_key=key, base_url=url, model=settings.openai_model)
        else:
            openai = OpenAIExtractor(api_key=key, base_url=url)
    reports = extract_files(
        list(files),
        mode=mode or env_mode,
        ocr=env_ocr and not no_ocr,
        max_document_bytes=max_bytes,
        max_pages=max_pages,
        openai=openai,
    )
    emit(reports, as_json, _text(reports))
    ok = all(r["records"] and not r["errors"] for r in reports)
    raise SystemExit(EXIT_OK if ok else EXIT_FAIL)
