"""invoice_assets: Turkish electricity invoices as Dagster data assets.

Layers, top to bottom (each imports only those below it; ``make check`` enforces it): ``cli`` and
``commands`` (the CLI), ``api`` (the ops API), ``definitions`` and ``guard`` (the code
locations), ``assets``, ``checks`` and ``automation`` (the Dagster surface), ``services`` and
``demo``, the adapters in the top-level ``resources`` package, ``domain`` (the business rules)
and ``kernel``. Importing this package does nothing.
"""
