"""The three seed fixtures of SPEC §7 (``config/smoke/``): their records and expected outputs.

Read by the blocking check on ``incidents`` (``checks/fixture_check.py``) and by the post-deploy
smoke test (``post_deploy_smoke.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from invoice_assets.domain.frames import items_to_frames
from invoice_assets.domain.records import parse_inbox_content

SMOKE_DIR = Path(__file__).resolve().parents[2] / "config" / "smoke"


def load_fixtures(folder: Path = SMOKE_DIR) -> tuple[list[str], dict[str, Any], Any, Any]:
    """Fixture names, expectations and their frames."""
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    items = []
    for name in expected:
        path = folder / f"{name}.json"
        items += parse_inbox_content(path.name, path.read_bytes(), 10_000_000)
    invoices, lines = items_to_frames(items)
    return list(expected), expected, invoices, lines
