"""``invoice-ops``: the operator's command line (the console script ``invoice_assets.cli:main``).

This module defines the ``invoice-ops`` group and registers on it the commands of
``invoice_assets/commands/``: ``pipeline`` (validate-config, demo, run, ingest, summary),
``extract`` (what the platform reads from files), ``incidents`` (incidents
list/show/ack/resolve/feedback), ``alerts`` (alerts list), ``runs``
(reap), ``suppliers`` (suppliers check/resolve/rekey) and ``service`` (serve, health, status,
token, smoke). Thin commands over library functions; output goes through ``commands.common.emit``
(text, or JSON with ``--json``), errors go to stderr. Exit codes: 0 success, 1 the thing checked
is not OK (failed run, not ready, smoke failure, a status that moved meanwhile), 2 invalid input
or configuration (bad config, bad arguments); a run interrupted by a signal while it waits for a
pool slot exits 128 + the signal's number.

Not for: the commands themselves or their shared helpers (``invoice_assets/commands/``), nor the
work they do (the library modules they call).
"""

from __future__ import annotations

import click

from invoice_assets.commands import alerts, extract, incidents, pipeline, runs, service, suppliers


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Operate the invoice_assets pipeline (see RUNBOOK.md)."""


for _command in (
    pipeline.validate_config,
    pipeline.demo,
    pipeline.run,
    pipeline.ingest,
    pipeline.summary,
    extract.extract,
    runs.reap,
    incidents.incidents,
    alerts.alerts,
    suppliers.suppliers,
    service.serve,
    service.health,
    service.status,
    service.token,
    service.smoke,
):
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
