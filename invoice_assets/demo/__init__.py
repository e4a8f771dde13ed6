"""The demo: generated invoices with known anomalies and the incidents they must give
(``invoice-ops demo``, the tests, the benchmarks).

``generator`` writes a day's files and their manifest; ``records`` builds one invoice record;
``rules`` places injected anomalies and predicts incidents from the thresholds; ``output`` prints
and writes files atomically.
"""

from invoice_assets.demo.generator import (
    ANOMALIES,
    MANIFEST_NAME,
    MAX_PER_DAY,
    DemoInvoice,
    DemoManifest,
    generate_demo,
)

__all__ = [
    "ANOMALIES",
    "MANIFEST_NAME",
    "MAX_PER_DAY",
    "DemoInvoice",
    "DemoManifest",
    "generate_demo",
]
