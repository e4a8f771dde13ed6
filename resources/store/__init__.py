"""The store: the product's own database (``InvoiceStore``, SQLAlchemy Core over SQLite or
PostgreSQL) and everything that reads or writes its tables.

Modules, from the leaf up: ``cells`` (pandas cells ↔ driver values, typed frames), ``schema``
(the tables), ``marker`` (the last-write counter), ``pg_copy`` (binary COPY encoding), ``bulk``
(frames into tables), ``locking`` (schema lock, staged day swaps on SQLite), ``incidents``
(compare-and-set incident writes), the ``InvoiceStore`` mixins ``ops`` (incidents, feedback),
``report_queries`` (reads for reports, digest counts, cached documents), ``alerts`` and ``health``,
``rekey`` and ``migrations`` (schema upgrades), ``resource`` (``InvoiceStore`` itself: engines,
the schema ensured once per process, stage partitions, the inbox queue) and
``extraction_cache`` (paid-for OpenAI answers). SQL on the store's tables lives here and
nowhere else.
"""

from resources.store.resource import InboxEntry, InvoiceStore, dispose_engine

__all__ = ["InboxEntry", "InvoiceStore", "dispose_engine"]
