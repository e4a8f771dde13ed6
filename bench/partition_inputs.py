"""Inbox content for ``partition_e2e``: demo days laid out as ``.jsonl`` files, and the big
synthetic day. Bench-only; nothing here is timed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

JSONL_CHUNK = 2_000  # records per .jsonl file (~3.5 MiB, below the 10 MiB inbox limit)


def to_jsonl(source: Path, target: Path, chunk: int) -> int:
    """The demo files of one day folder as ``.jsonl`` files of ``chunk`` records (same content)."""
    lines = []
    for path in sorted(source.iterdir()):
        raw = path.read_bytes()
        try:
            lines.append(json.dumps(json.loads(raw), ensure_ascii=False))
        except ValueError:  # the malformed file stays malformed, on one line
            lines.append(raw.decode("utf-8", "replace").replace("\n", " ").replace("\r", " "))
    target.mkdir(parents=True, exist_ok=True)
    for number, start in enumerate(range(0, len(lines), chunk)):
        body = "\n".join(lines[start : start + chunk]) + "\n"
        (target / f"batch-{number:04d}.jsonl").write_text(body, encoding="utf-8")
    return len(lines)


def prepare_inbox(
    work: Path,
    jsonl_days: list[str],
    files_day: str | None,
    backfill_days: list[str],
    per_day: int,
    backfill_per_day: int,
) -> dict[str, Any]:
    """Generate the demo content; returns the expected incidents per day and generation times."""
    from invoice_assets.demo import generate_demo

    inbox = work / "home" / "inbox"
    staging = work / "staging"
    expected: dict[str, int] = {}
    times: dict[str, float] = {}

    def expect(manifest: Any) -> None:
        for entry in manifest.invoices:
            expected.setdefault(entry.day, 0)
            expected[entry.day] += entry.expected_primary_flag is not None

    started = time.perf_counter()
    manifest = generate_demo(staging, jsonl_days, per_day, seed=11)
    times["generate_demo_files_s"] = time.perf_counter() - started
    expect(manifest)
    started = time.perf_counter()
    for day in jsonl_days:
        to_jsonl(staging / day, inbox / day, JSONL_CHUNK)
    times["convert_to_jsonl_s"] = time.perf_counter() - started
    if files_day:
        started = time.perf_counter()
        expect(generate_demo(inbox, [files_day], per_day, seed=12))
        times["generate_files_day_s"] = time.perf_counter() - started
    if backfill_days:
        started = time.perf_counter()
        expect(generate_demo(staging, backfill_days, backfill_per_day, seed=13))
        for day in backfill_days:
            to_jsonl(staging / day, inbox / day, JSONL_CHUNK)
        times["generate_backfill_s"] = time.perf_counter() - started
    return {"expected_incidents": expected, "generation": times, "inbox": inbox}


BIG_BLOCK = 1_000_000  # synthetic invoices generated at once (~1.5 GiB while generating)


def write_big_day(folder: Path, n: int, per_file: int) -> None:
    """``n`` synthetic invoices (``bench.synthetic``) as ``.jsonl`` files of ``per_file``,
    generated in blocks of ``BIG_BLOCK`` (the first block is what one call for ``n`` up to 1M
    always gave: seed 5, keys ``SYN…``; block ``b`` has seed ``5 + b`` and keys ``SYN<b>B…``)."""
    from bench.synthetic import jsonl_lines, synthetic_invoices
    from resources.market_data import load_market_data
    from resources.thresholds import load_thresholds

    folder.mkdir(parents=True, exist_ok=True)
    market, thresholds = load_market_data(), load_thresholds()
    chunk: list[str] = []
    number = 0
    for block, start in enumerate(range(0, n, BIG_BLOCK)):
        size = min(BIG_BLOCK, n - start)
        prefix = "SYN" if block == 0 else f"SYN{block:02d}B"
        invoices, lines = synthetic_invoices(
            size, market, thresholds, seed=5 + block, prefix=prefix
        )
        for line in jsonl_lines(invoices, lines):
            chunk.append(line)
            if len(chunk) == per_file:
                (folder / f"big-{number:05d}.jsonl").write_text("\n".join(chunk) + "\n", "utf-8")
                chunk, number = [], number + 1
        del invoices, lines
    if chunk:
        (folder / f"big-{number:05d}.jsonl").write_text("\n".join(chunk) + "\n", "utf-8")


def write_big_day_apart(folder: Path, n: int, per_file: int) -> None:
    """``write_big_day`` in a child process, so the measured process never holds the generator's
    memory (generating 1M invoices in it left its RSS at ~1.4 GiB before the run started)."""
    import multiprocessing

    child = multiprocessing.get_context("spawn").Process(
        target=write_big_day, args=(folder, n, per_file)
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"generating the big day failed (exit code {child.exitcode})")
