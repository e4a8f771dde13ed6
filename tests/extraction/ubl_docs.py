"""Hand-written UBL-TR XML invoices (UBL 2.1, TR1.2) and hostile XML/zip files for the readers."""

from __future__ import annotations

import io
import uuid
import zipfile
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal


def _q(value: Decimal, places: str = "0.01") -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


@dataclass
class UblSpec:
    """One electricity invoice; amounts computed the way a supplier's system would."""

    invoice_no: str = "ABC2025000123456"
    ettn: str = ""  # default: a UUID derived from the number and period (reproducible)
    supplier: str = "Örnek Elektrik Perakende Satış A.Ş."
    vkn: str = "1234567890"
    issue_date: str = "2025-12-05"
    period: tuple[str, str] = ("2025-11-01", "2025-11-30")
    energy: list[tuple[str, str, str]] = field(
        default_factory=lambda: [("Aktif Enerji Bedeli", "12345.678", "3.123456")]
    )  # (label, kWh, TL/kWh)
    distribution_price: str = "1.234567"
    btv_rate: str = "0.05"
    rounding: str = "0.00"

    def __post_init__(self) -> None:
        if not self.ettn:
            name = f"{self.invoice_no}|{self.period[0]}|{self.energy}"
            self.ettn = str(uuid.uuid5(uuid.NAMESPACE_URL, name))

    def kwh(self) -> Decimal:
        return sum((Decimal(q) for _, q, _ in self.energy), Decimal(0))

    def energy_amounts(self) -> list[Decimal]:
        return [_q(Decimal(q) * Decimal(p)) for _, q, p in self.energy]

    def distribution_amount(self) -> Decimal:
        return _q(self.kwh() * Decimal(self.distribution_price))

    def base(self) -> Decimal:
        return sum(self.energy_amounts(), Decimal(0)) + self.distribution_amount()

    def btv(self) -> Decimal:
        return _q(sum(self.energy_amounts(), Decimal(0)) * Decimal(self.btv_rate))

    def vat_base(self) -> Decimal:
        return self.base() + self.btv()

    def vat(self) -> Decimal:
        return _q(self.vat_base() * Decimal("0.20"))

    def total(self) -> Decimal:
        return self.vat_base() + self.vat()

    def payable(self) -> Decimal:
        return self.total() + Decimal(self.rounding)


def make_ubl(spec: UblSpec | None = None) -> bytes:
    """The UBL-TR XML of ``spec``."""
    s = spec or UblSpec()
    lines = []
    rows = [(label, q, p, a) for (label, q, p), a in zip(s.energy, s.energy_amounts(), strict=True)]
    rows.append(("Dağıtım Bedeli", str(s.kwh()), s.distribution_price, s.distribution_amount()))
    for n, (label, qty, price, amount) in enumerate(rows, start=1):
        lines.append(f"""
  <cac:InvoiceLine>
    <cbc:ID>{n}</cbc:ID>
    <cbc:InvoicedQuantity unitCode="KWH">{qty}</cbc:InvoicedQuantity>
    <cbc:LineExtensionAmount currencyID="TRY">{amount}</cbc:LineExtensionAmount>
    <cac:Item><cbc:Name>{label}</cbc:Name></cac:Item>
    <cac:Price><cbc:PriceAmount currencyID="TRY">{price}</cbc:PriceAmount></cac:Price>
  </cac:InvoiceLine>""")
    taxes = s.btv() + s.vat()
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:UBLVersionID>2.1</cbc:UBLVersionID>
  <cbc:CustomizationID>TR1.2</cbc:CustomizationID>
  <cbc:ProfileID>TEMELFATURA</cbc:ProfileID>
  <cbc:ID>{s.invoice_no}</cbc:ID>
  <cbc:UUID>{s.ettn}</cbc:UUID>
  <cbc:IssueDate>{s.issue_date}</cbc:IssueDate>
  <cbc:InvoiceTypeCode>SATIS</cbc:InvoiceTypeCode>
  <cbc:DocumentCurrencyCode>TRY</cbc:DocumentCurrencyCode>
  <cac:InvoicePeriod><cbc:StartDate>{s.period[0]}</cbc:StartDate><cbc:EndDate>{s.period[1]}</cbc:EndDate></cac:InvoicePeriod>
  <cac:AccountingSupplierParty><cac:Party>
    <cac:PartyIdentification><cbc:ID schemeID="VKN">{s.vkn}</cbc:ID></cac:PartyIdentification>
    <cac:PartyIdentification><cbc:ID schemeID="MERSISNO">0123456789000015</cbc:ID>
    </cac:PartyIdentification>
    <cac:PartyName><cbc:Name>{s.supplier}</cbc:Name></cac:PartyName>
  </cac:Party></cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty><cac:Party>
    <cac:PartyIdentification><cbc:ID schemeID="TCKN">11111111110</cbc:ID></cac:PartyIdentification>
    <cac:Person><cbc:FirstName>Ayşe</cbc:FirstName><cbc:FamilyName>Yılmaz</cbc:FamilyName></cac:Person>
  </cac:Party></cac:AccountingCustomerParty>
  <cac:TaxTotal>
    <cbc:TaxAmount currencyID="TRY">{taxes}</cbc:TaxAmount>
    <cac:TaxSubtotal>
      <cbc:TaxableAmount currencyID="TRY">{sum(s.energy_amounts(), Decimal(0))}</cbc:TaxableAmount>
      <cbc:TaxAmount currencyID="TRY">{s.btv()}</cbc:TaxAmount>
      <cbc:Percent>{_q(Decimal(s.btv_rate) * 100)}</cbc:Percent>
      <cac:TaxCategory><cac:TaxScheme><cbc:Name>ELK.HAVAGAZ.TÜK.VER.</cbc:Name><cbc:TaxTypeCode>4071</cbc:TaxTypeCode></cac:TaxScheme></cac:TaxCategory>
    </cac:TaxSubtotal>
    <cac:TaxSubtotal>
      <cbc:TaxableAmount currencyID="TRY">{s.vat_base()}</cbc:TaxableAmount>
      <cbc:TaxAmount currencyID="TRY">{s.vat()}</cbc:TaxAmount>
      <cbc:Percent>20</cbc:Percent>
      <cac:TaxCategory><cac:TaxScheme><cbc:Name>KDV</cbc:Name><cbc:TaxTypeCode>0015</cbc:TaxTypeCode></cac:TaxScheme></cac:TaxCategory>
    </cac:TaxSubtotal>
  </cac:TaxTotal>
  <cac:LegalMonetaryTotal>
    <cbc:LineExtensionAmount currencyID="TRY">{s.base()}</cbc:LineExtensionAmount>
    <cbc:TaxExclusiveAmount currencyID="TRY">{s.base()}</cbc:TaxExclusiveAmount>
    <cbc:TaxInclusiveAmount currencyID="TRY">{s.total()}</cbc:TaxInclusiveAmount>
    <cbc:PayableRoundingAmount currencyID="TRY">{s.rounding}</cbc:PayableRoundingAmount>
    <cbc:PayableAmount currencyID="TRY">{s.payable()}</cbc:PayableAmount>
  </cac:LegalMonetaryTotal>{"".join(lines)}
</Invoice>
""".encode()


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def xml_bomb() -> bytes:
    """The billion-laughs document (entity expansion)."""
    entities = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    ]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE Invoice [' + "".join(entities) + "]>\n"
        "<Invoice><cbc:ID>&lol9;</cbc:ID></Invoice>"
    ).encode()


def xml_external_entity() -> bytes:
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE Invoice [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        b"<Invoice><ID>&x;</ID></Invoice>"
    )


def zip_bomb(size: int = 512 * 1024 * 1024) -> bytes:
    """A small zip declaring one member of ``size`` zero bytes (deflate shrinks it ~1000×)."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("invoice.xml", "w", force_zip64=True) as member,
    ):
        chunk = b"\x00" * (1 << 20)
        for _ in range(size >> 20):
            member.write(chunk)
    return buffer.getvalue()
