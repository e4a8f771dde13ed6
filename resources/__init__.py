"""Adapters: everything that talks to the world outside the domain — the store (``store/``), the
inbox, document extractors and OpenAI, market data, suppliers, the thresholds file, alert
webhooks and the clock — mostly as Dagster resources. They may use ``invoice_assets.domain`` and
``invoice_assets.kernel``, never the layers above (``make check`` enforces it).
"""
