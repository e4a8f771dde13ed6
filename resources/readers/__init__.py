"""Offline document readers: UBL-TR XML, e-Fatura HTML, PDF text layer, QR code and OCR.

Each reader turns one document's bytes into SPEC §4.1 extraction records (plain dicts that
``invoice_assets.domain.records.parse_record`` accepts) or raises ``ReaderError`` with a
machine-readable code. Readers know nothing of Dagster or the store; the router
(``resources/readers/router.py``) picks one by sniffed content and the extractor resource calls it.
"""
