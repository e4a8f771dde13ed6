"""What a generated invoice says: its lines, its arithmetic, and the values a reader must find.

An ``InvoiceSpec`` is the single source for a generated document (PDF, HTML) and for the
expected reading (``expected()``): amounts are computed the way suppliers print them (each line
rounded to the kuruş, BTV on the energy amount, 20 % VAT on the base, the payable rounded to whole
TL or 5 TL with the difference on a ``Yuvarlama`` line). Number styles mix the forms of
EXTRACTION-FACTS §4 so one invoice can print ``1.284.316,42`` beside ``18340.27``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
MONTHS_TR = [
    "Ocak",
    "Şubat",
    "Mart",
    "Nisan",
    "Mayıs",
    "Haziran",
    "Temmuz",
    "Ağustos",
    "Eylül",
    "Ekim",
    "Kasım",
    "Aralık",
]


def kurus(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def fmt(value: Decimal, places: int, style: str = "tr") -> str:
    """A number as suppliers print it: ``tr`` 1.234,56 · ``tr_plain`` 1234,56 · ``dot`` 1234.56
    · ``comma_only_frac`` ,000 for zero."""
    q = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP) if places else value
    sign = "-" if q < 0 else ""
    text = f"{abs(q):.{places}f}"
    whole, _, frac = text.partition(".")
    if style == "dot":
        return sign + text
    if style == "tr_plain":
        return sign + whole + ("," + frac if frac else "")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    if style == "comma_only_frac" and q == 0:
        return "," + frac
    return sign + ".".join(groups) + ("," + frac if frac else "")


@dataclass(frozen=True)
class Line:
    """A billing line: ``qty × unit_price = amount`` (amount rounded to the kuruş)."""

    label: str
    qty: Decimal
    unit_price: Decimal
    qty_places: int = 3
    price_places: int = 6

    @property
    def amount(self) -> Decimal:
        return kurus(self.qty * self.unit_price)


@dataclass(frozen=True)
class InvoiceSpec:
    supplier: str = "Örnek Elektrik Perakende Satış A.Ş."
    supplier_tax_id: str | None = "1234567890"
    customer: str = "Deneme Tekstil Sanayi Ltd. Şti."
    customer_tax_id: str = "9876543210"
    invoice_no: str = "ABC2025000123456"
    ettn: str = "3f2b8c1e-5d4a-4e2b-9c7d-1a2b3c4d5e6f"
    invoice_date: date = date(2025, 12, 5)
    period: str = "2025-11"
    period_form: str = "slash"  # slash 2025/11 · name Kasım 2025 · range 01.11.2025 - 30.11.2025
    date_form: str = "dots"  # dots 05.12.2025 · dashes 05-12-2025 · spaced 05- 12 - 2025
    tariff: tuple[str, str, str] | None = ("Sanayi", "OG", "Tek Terimli")
    energy: tuple[Line, ...] = (
        Line("Aktif Enerji Bedeli", Decimal("12345.678"), Decimal("3.123456")),
    )
    distribution: Line | None = Line("Dağıtım Bedeli", Decimal("12345.678"), Decimal("0.912345"))
    btv_rate: Decimal = Decimal("0.01")
    btv_label: str = "Belediye Tüketim Vergisi (%1)"
    vat_rate: Decimal = Decimal("0.20")
    round_payable_to: int = 0  # 0: payable = total · 1: whole TL · 5: 5 TL
    styles: dict[str, str] = field(default_factory=dict)  # field → number style
    layout: str = "inline"  # inline · unit (qty KWH price amount) · next_line (qty below)
    meter_rows: bool = True  # indexes, multiplier, T1/T2/T3, TÜKETİM TOPLAMI, kVArh, stats
    letter_spaced: bool = False
    doubled_totals: bool = False  # fake-bold glyphs doubled on the totals lines
    pages: int = 1  # 2: the billing table and totals on the second page
    total_label: str = "Fatura Tutarı"
    payable_label: str = "ÖDENECEK TUTAR"
    vat_form: str = "matrah_inline"  # matrah_inline: KDV (Matrah x) %20 y · separate lines
    vat_columns: bool = False  # billing lines also print %20 and their VAT, amounts with TL
    summary_box: bool = False  # total and payable as a box: labels in one row, values below

    def style(self, name: str) -> str:
        return self.styles.get(name, "tr")

    @property
    def energy_total(self) -> Decimal:
        return sum((line.amount for line in self.energy), Decimal(0))

    @property
    def consumption(self) -> Decimal:
        return sum((line.qty for line in self.energy), Decimal(0))

    @property
    def btv(self) -> Decimal:
        return kurus(self.energy_total * self.btv_rate)

    @property
    def base(self) -> Decimal:
        dist = self.distribution.amount if self.distribution else Decimal(0)
        return self.energy_total + dist + self.btv

    @property
    def vat(self) -> Decimal:
        return kurus(self.base * self.vat_rate)

    @property
    def total(self) -> Decimal:
        return self.base + self.vat

    @property
    def payable(self) -> Decimal:
        if not self.round_payable_to:
            return self.total
        step = Decimal(self.round_payable_to)
        return (self.total / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step

    @property
    def rounding(self) -> Decimal:
        return self.payable - self.total

    @property
    def unit_price(self) -> Decimal:
        if len(self.energy) == 1:
            return self.energy[0].unit_price
        return self.energy_total / self.consumption

    def expected(self) -> dict[str, float]:
        """The key fields a reader must return (within 0.5 %; exact where printed)."""
        out = {
            "consumption_kwh": float(self.consumption),
            "current_active_unit_price_tl_per_kwh": float(self.unit_price),
            "energy_total_tl": float(self.energy_total),
            "btv_tl": float(self.btv),
            "vat_tl": float(self.vat),
            "invoice_total_with_vat_tl": float(self.total),
            "payable_tl": float(self.payable),
        }
        if self.distribution is not None:
            out["distribution_total_tl"] = float(self.distribution.amount)
            out["distribution_unit_price_tl_per_kwh"] = float(self.distribution.unit_price)
        return out

    def with_(self, **changes: object) -> InvoiceSpec:
        return replace(self, **changes)  # type: ignore[arg-type]


def monthly_bundle(count: int = 5, *, start_month: int = 1, pages: int = 2) -> list[InvoiceSpec]:
    """``count`` consecutive monthly invoices of one customer (the bundle of facts §1)."""
    specs = []
    for i in range(count):
        month = start_month + i
        qty = Decimal("4000.125") + Decimal(i * 731) + Decimal("0.333") * i
        specs.append(
            InvoiceSpec(
                invoice_no=f"ABC2025{100000 + i:09d}",
                ettn=str(uuid.UUID(int=0x1234 + i * 7919, version=4)),
                invoice_date=date(2025, month + 1, 3) if month < 12 else date(2026, 1, 3),
                period=f"2025-{month:02d}",
                energy=(Line("Aktif Enerji Bedeli", qty, Decimal("3.1") + Decimal(i) / 100),),
                distribution=Line("Dağıtım Bedeli", qty, Decimal("0.912345")),
                round_payable_to=(0, 1, 5)[i % 3],
                pages=pages,
            )
        )
    return specs
