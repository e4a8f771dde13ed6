"""The ops HTTP API (FastAPI): health, readiness, metrics and the admin endpoints."""

from invoice_assets.api.app import create_app

__all__ = ["create_app"]
