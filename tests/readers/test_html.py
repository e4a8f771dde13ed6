"""The e-Fatura viewer's HTML rendering read through the text reader."""

from __future__ import annotations

import time
from decimal import Decimal as D

import pytest

from resources.readers.errors import ReaderError
from resources.readers.html import html_lines, read_html
from tests.documents.html import make_invoice_html
from tests.documents.spec import InvoiceSpec, Line
from tests.readers.expect import LOW, assert_reads

SPECS = {
    "single line": InvoiceSpec(),
    "two tiers, rounded payable": InvoiceSpec(
        energy=(
            Line("Aktif Enerji Bedeli", D("840"), D("2.5"), 0, 6),
            Line("Yüksek Kademe", D("5312.4"), D("3.123456"), 1, 6),
        ),
        round_payable_to=1,
    ),
}


@pytest.mark.parametrize("name", list(SPECS))
def test_the_viewer_html_is_read_exactly(name: str) -> None:
    spec = SPECS[name]
    (record,) = read_html(make_invoice_html(spec), low_confidence=LOW)
    assert_reads(record, spec)


def test_rows_become_lines_and_scripts_and_styles_are_skipped() -> None:
    lines = html_lines(make_invoice_html(InvoiceSpec()))
    assert "Fatura No:  ABC2025000123456" in lines
    assert any(line.startswith("1  Aktif Enerji Bedeli  12.345,678 KWH") for line in lines)
    assert not any("999,99" in line or "1,00" in line for line in lines)


def test_bad_html_gets_a_clear_code() -> None:
    with pytest.raises(ReaderError) as raised:
        read_html(b"<html>" + b" " * 100, max_bytes=50)
    assert raised.value.code == "html_too_large"
    with pytest.raises(ReaderError) as raised:
        read_html(b"just text, no markup")
    assert raised.value.code == "html_invalid"
    with pytest.raises(ReaderError) as raised:
        read_html(b"<html><body><p>Merhaba</p></body></html>")
    assert raised.value.code == "no_invoice_found"
    with pytest.raises(ReaderError) as raised:
        read_html(b"<html><body></body></html>")
    assert raised.value.code == "no_invoice_found"


def test_deep_nesting_and_windows_1254_do_not_break_it() -> None:
    deep = b"<div>" * 200_000 + b"x" + b"</div>" * 200_000
    started = time.perf_counter()
    with pytest.raises(ReaderError) as raised:
        read_html(deep)
    assert raised.value.code == "no_invoice_found"
    assert time.perf_counter() - started < 10
    cp1254 = make_invoice_html(InvoiceSpec()).decode("utf-8").replace('charset="utf-8"', "")
    (record,) = read_html(cp1254.encode("cp1254"), low_confidence=LOW)
    assert record["invoice"]["supplier"] == InvoiceSpec().supplier
