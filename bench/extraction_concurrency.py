"""Benchmark 3 — extraction concurrency: the real ``OpenAIExtractor`` (openai client, thread pool,
answer parsing and domain validation) against the local stand-in with a fixed latency.

For concurrency c in 1, 4, 8, 16 the extractor sends N = max(16, 8·c) distinct tiny valid PDFs
with ``max_concurrency = c``, no cache, no retries. The ideal rate is c / latency
documents per second (every request in flight all the time, zero client cost); the benchmark
reports the achieved rate, its share of the ideal (target ≥ 90 %), the stand-in's maximum
requests in flight (must equal c) and that every document came back as a record. Medians of 3.

The stand-in runs in its own process (``python -m invoice_assets.standin``), as a remote API
would: its request handling does not share this process's GIL with the client. It reports its
requests in flight at ``GET /v1/_standin/counters``. Client and stand-in still share the
machine's two cores.

    .venv/bin/python -m bench.extraction_concurrency [--quick] [--out result.json]
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

from bench.common import cli, median, metric, record

NAME = "extraction_concurrency"
TARGET_SHARE_PCT = 90.0
CONCURRENCY = (1, 4, 8, 16)
LATENCY_S = 0.2
KEY = "sk-bench-standin"
PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
    b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj\n"
    b"% {tag}\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)


def pdf(tag: str) -> bytes:
    """A tiny valid one-page PDF; the tag comment makes its bytes (and sha256) distinct."""
    return PDF.replace(b"{tag}", tag.encode("ascii"))


def docs_for(concurrency: int, quick: bool) -> int:
    """Enough documents for several waves at each concurrency (16 at c = 1)."""
    return 2 * concurrency if quick else max(16, 8 * concurrency)


@contextlib.contextmanager
def standin_process(latency: float) -> Iterator[str]:
    """The stand-in in a child process with ``latency`` per request; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "invoice_assets.standin", "--port", str(port)]
    command += ["--api-key", KEY, "--latency", str(latency)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()  # "OpenAI stand-in on <url> ..." once it listens
        yield line.split(" on ", 1)[1].split()[0]
    finally:
        child.terminate()
        child.wait(timeout=10)


def counters(base_url: str, reset: bool = False) -> dict[str, int]:
    request = urllib.request.Request(
        f"{base_url.rstrip('/').removesuffix('/v1')}/v1/_standin/counters"
        + ("?reset=1" if reset else ""),
        headers={"Authorization": f"Bearer {KEY}"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return dict(json.load(answer))


def run(quick: bool = False) -> dict[str, Any]:
    from resources.openai_extractor import OpenAIExtractor

    started = time.perf_counter()
    latency = LATENCY_S
    repeats = 1 if quick else 3
    metrics: dict[str, Any] = {}
    details: dict[str, Any] = {"latency_s": latency, "levels": {}}
    notes: list[str] = []
    with standin_process(latency) as base_url:
        # Warm-up: the openai client's first use pays for imports and schema building.
        OpenAIExtractor(api_key=KEY, base_url=base_url).extract_documents(
            [("warm.pdf", pdf("warm"))]
        )
        batch_no = 0
        for concurrency in CONCURRENCY:
            n = docs_for(concurrency, quick)
            extractor = OpenAIExtractor(
                api_key=KEY,
                base_url=base_url,
                max_concurrency=concurrency,
                timeout_seconds=30.0,
                max_retries=0,
            )
            walls, in_flight, failures = [], [], []
            for _ in range(repeats):
                batch_no += 1
                docs = [(f"doc-{batch_no}-{i}.pdf", pdf(f"{batch_no}-{i}")) for i in range(n)]
                counters(base_url, reset=True)
                t0 = time.perf_counter()
                batch = extractor.extract_documents(docs)
                walls.append(time.perf_counter() - t0)
                in_flight.append(counters(base_url)["max_in_flight"])
                failures.append(sum(item.item.record is None for item in batch.items))
            wall = median(walls)
            rate = n / wall
            ideal = concurrency / latency
            share = 100.0 * rate / ideal
            metrics[f"c{concurrency}_docs_per_s"] = metric(rate, "docs/s", "higher")
            metrics[f"c{concurrency}_share_of_ideal"] = metric(
                share, "%", "higher", TARGET_SHARE_PCT
            )
            details["levels"][str(concurrency)] = {
                "documents": n,
                "ideal_docs_per_s": ideal,
                "wall_s": [round(w, 4) for w in walls],
                "max_in_flight": in_flight,
                "failed_documents": failures,
                "client_overhead_ms_per_doc": round(
                    1000.0 * (wall - n / ideal) / n * concurrency, 2
                ),
            }
            if any(failures) or any(m != min(concurrency, n) for m in in_flight):
                notes.append(f"c={concurrency}: failures {failures}, in flight {in_flight}")
    notes.append(
        f"latency {latency:g} s per request; N documents per batch: "
        + ", ".join(f"c={c}: {docs_for(c, quick)}" for c in CONCURRENCY)
        + f"; median of {repeats}"
    )
    return record(NAME, started, metrics, details, notes)


def main() -> None:
    cli(NAME, run)


if __name__ == "__main__":
    main()
