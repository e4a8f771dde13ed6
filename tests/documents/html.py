"""The e-Fatura viewer's HTML rendering of a UBL-TR invoice (tables of ``<td>``), generated.

Shaped like GİB's default XSLT: a header table (supplier block, customer block, invoice number,
date, ETTN), a line table with the columns Sıra No · Mal Hizmet · Miktar · Birim Fiyat · İskonto
Oranı · İskonto Tutarı · KDV Oranı · KDV Tutarı · Mal Hizmet Tutarı, and the totals table (Mal
Hizmet Toplam Tutarı, Hesaplanan ELK.HAVAGAZ.TÜK.VER., Hesaplanan KDV, Vergiler Dahil Toplam
Tutar, Ödenecek Tutar). Styles and scripts are there to be skipped.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape

from tests.documents.spec import InvoiceSpec, Line, fmt


def _td(*cells: str) -> str:
    return "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>\n"


def _line_row(index: int, line: Line, vat_rate: Decimal) -> str:
    vat = fmt((line.amount * vat_rate).quantize(Decimal("0.01")), 2)
    return _td(
        str(index),
        line.label,
        f"{fmt(line.qty, line.qty_places)} KWH",
        f"{fmt(line.unit_price, line.price_places)} TL",
        "%0,00",
        "0,00 TL",
        f"%{fmt(vat_rate * 100, 2)}",
        f"{vat} TL",
        f"{fmt(line.amount, 2)} TL",
    )


def make_invoice_html(spec: InvoiceSpec) -> bytes:
    d = spec.invoice_date
    lines = list(spec.energy) + ([spec.distribution] if spec.distribution else [])
    goods = sum((line.amount for line in lines), Decimal(0))
    rows = "".join(_line_row(i, line, spec.vat_rate) for i, line in enumerate(lines, start=1))
    btv_rate = fmt(spec.btv_rate * 100, 0)
    tariff = " ".join(spec.tariff or ())
    body = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>e-Fatura</title>
<style>td {{ border: 1px solid #000; }} .x {{ content: "ÖDENECEK 999,99"; }}</style>
<script>var total = "Fatura Tutarı 1,00";</script></head>
<body>
<table id="header"><tr><td>
  <table><tr><td>{escape(spec.supplier)}</td></tr>
  <tr><td>Büyük Mükellefler Vergi Dairesi</td></tr>
  <tr><td>VKN: {spec.supplier_tax_id or ""}</td></tr></table>
</td><td><img src="data:image/png;base64,iVBORw0KGgo=" alt="GİB logo"/><h1>e-FATURA</h1></td></tr>
<tr><td><table><tr><td>SAYIN</td></tr><tr><td>{escape(spec.customer)}</td></tr>
  <tr><td>VKN: {spec.customer_tax_id}</td></tr></table></td>
<td><table id="despatchTable">
  <tr><td>Özelleştirme No:</td><td>TR1.2</td></tr>
  <tr><td>Senaryo:</td><td>TEMELFATURA</td></tr>
  <tr><td>Fatura Tipi:</td><td>SATIS</td></tr>
  <tr><td>Fatura No:</td><td>{spec.invoice_no}</td></tr>
  <tr><td>Fatura Tarihi:</td><td>{d.day:02d}-{d.month:02d}-{d.year}</td></tr>
  <tr><td>Fatura Dönemi:</td><td>{spec.period.replace("-", "/")}</td></tr>
</table></td></tr></table>
<p>ETTN: {spec.ettn}</p>
<table id="lineTable">
<tr><th>Sıra No</th><th>Mal Hizmet</th><th>Miktar</th><th>Birim Fiyat</th><th>İskonto Oranı</th>
<th>İskonto Tutarı</th><th>KDV Oranı</th><th>KDV Tutarı</th><th>Mal Hizmet Tutarı</th></tr>
{rows}</table>
<table id="budgetContainerTable">
{_td("Mal Hizmet Toplam Tutarı", f"{fmt(goods, 2)} TL")}\
{_td("Toplam İskonto", "0,00 TL")}\
{_td(f"Hesaplanan ELK.HAVAGAZ.TÜK.VER.(%{btv_rate})", f"{fmt(spec.btv, 2)} TL")}\
{_td(f"Hesaplanan KDV(%{fmt(spec.vat_rate * 100, 0)})", f"{fmt(spec.vat, 2)} TL")}\
{_td("Vergiler Dahil Toplam Tutar", f"{fmt(spec.total, 2)} TL")}\
{_td("Ödenecek Tutar", f"{fmt(spec.payable, 2)} TL")}\
</table>
<table><tr><td>Not: Yalnız {fmt(spec.payable, 2)} TL. Tarife: {tariff}</td></tr></table>
</body></html>
"""
    return body.encode("utf-8")
