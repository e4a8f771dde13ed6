"""Canonical supplier ids (SPEC §4.1): one id per supplier however its name is printed.

A supplier's id is, in this order: the id of a known supplier whose tax id (VKN/TCKN) the record
carries; the id of a known supplier whose name or alias folds to the printed name's fold; the
record's own tax id; the printed name folded. Folding ignores case, spacing, Turkish letters
(``Boğaziçi`` = ``BOGAZICI``), punctuation and trailing legal-form and sector words (``A.Ş.``,
``Ltd. Şti.``, ``Elektrik Perakende Satış A.Ş.``), and gives a slug: ``ck-bogazici``. A known
supplier's id is its table name folded, so a table entry never changes the key of an invoice
that prints that name. The id is idempotent: resolving an id gives the same id.

``supplier`` (what incidents, reports and the CLI show) is a known supplier's table name, else
the name as printed. The table itself is data (``config/suppliers.yaml``), loaded and checked by
``resources/suppliers.py`` and passed in; nothing here reads a file.

Not for: parsing records (``records.py``) or grouping reports (``health.py`` groups by id).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

import numpy as np

from invoice_assets.domain.arrays import first_rows, row_codes
from invoice_assets.domain.errors import DomainError

_TURKISH = str.maketrans("çÇğĞıİöÖşŞüÜ", "cCgGiIoOsSuU")
# Words that say what kind of company it is, not which one, as folded tokens; stripped from the
# end of a name while one is left ("Elektrik A.Ş." keeps "elektrik").
SUFFIX_WORDS = frozenset(
    {
        # legal forms: A.Ş., A. Ş., T.A.Ş., Anonim Şirketi, Ltd. Şti., Limited Şirketi, …
        *("as", "a", "s", "tas", "t", "anonim", "sirketi", "sti", "ltd", "ltdsti", "limited"),
        # "… Sanayi ve Ticaret A.Ş."
        *("san", "sanayi", "ve", "tic", "ticaret"),
        # sector: "… Elektrik Perakende Satış A.Ş.", "… EPSAŞ", "… Elk. Per. Sat."
        *("elektrik", "elk", "enerjisi", "perakende", "per", "satis", "sat", "epsas"),
    }
)
_JOINED = re.compile(r"[.'’`´]")  # A.Ş. → as, Ltd.Şti. → ltdsti: abbreviations stay one word
_SEPARATORS = re.compile(r"[^a-z0-9]+")
TAX_ID = re.compile(r"^[0-9]{10,11}$")  # ASCII: \d would take "٠" and other digits


@lru_cache(maxsize=65_536)
def fold_name(name: str) -> str:
    """The printed name folded to a slug (``CK Boğaziçi Elektrik Perakende Satış A.Ş.`` →
    ``ck-bogazici``); "" when nothing is left (no letter or digit)."""
    text = unicodedata.normalize("NFKD", name.translate(_TURKISH))
    text = text.encode("ascii", "ignore").decode("ascii").lower()  # â → a; other scripts go
    words = _SEPARATORS.sub(" ", _JOINED.sub("", text)).split()
    while len(words) > 1 and words[-1] in SUFFIX_WORDS:
        words.pop()
    return "-".join(words)


class SupplierTableError(DomainError):
    """A supplier table that must not be used (the message names every problem)."""

    code = "invalid_supplier_table"


@dataclass(frozen=True)
class Supplier:
    """Who issued an invoice: the canonical ``id`` (invoice and dedupe keys, grouping) and the
    ``name`` shown for it."""

    id: str
    name: str


@dataclass(frozen=True)
class KnownSupplier:
    """One entry of the supplier table: its name (shown, and folded to its id), other printed
    forms, and tax ids (only real ones: an unknown tax id is left out, never guessed)."""

    name: str
    aliases: tuple[str, ...] = ()
    tax_ids: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return fold_name(self.name)


@dataclass(frozen=True)
class SupplierDirectory:
    """The known suppliers by folded name and by tax id (build with ``SupplierDirectory.of``)."""

    by_fold: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    by_tax_id: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, entries: Iterable[KnownSupplier]) -> SupplierDirectory:
        """The directory of ``entries``; ``ValueError`` listing every conflict (a name, alias or
        tax id that would name two suppliers, a malformed tax id, a name that folds to "")."""
        by_fold: dict[str, str] = {}
        by_tax: dict[str, str] = {}
        names: dict[str, str] = {}
        problems: list[str] = []
        for entry in entries:
            sid = entry.id
            if not sid:
                problems.append(f"{entry.name!r}: the name has no letter or digit")
                continue
            if sid in names:
                problems.append(f"{entry.name!r}: same id {sid!r} as {names[sid]!r}")
                continue
            names[sid] = entry.name
            for alias in (entry.name, *entry.aliases):
                folded = fold_name(alias)
                if by_fold.setdefault(folded, sid) != sid:
                    problems.append(f"{alias!r} ({folded}) names {by_fold[folded]!r} and {sid!r}")
            for tax_id in entry.tax_ids:
                if not TAX_ID.match(tax_id):
                    problems.append(f"{entry.name!r}: tax id {tax_id!r} is not 10 or 11 digits")
                elif by_tax.setdefault(tax_id, sid) != sid:
                    problems.append(f"tax id {tax_id} names {by_tax[tax_id]!r} and {sid!r}")
        if problems:
            raise SupplierTableError("; ".join(problems))
        return cls(MappingProxyType(by_fold), MappingProxyType(by_tax), MappingProxyType(names))

    def resolve_one(self, printed: str, tax_id: str | None = None) -> Supplier:
        """The supplier of one printed name (and tax id, when the record carries one; a
        malformed tax id is ignored)."""
        if tax_id is not None and not TAX_ID.match(tax_id):
            tax_id = None
        if tax_id and tax_id in self.by_tax_id:
            sid = self.by_tax_id[tax_id]
            return Supplier(sid, self.names[sid])
        folded = fold_name(printed)
        known = self.by_fold.get(folded)
        if known is not None:
            return Supplier(known, self.names[known])
        return Supplier(tax_id or folded, printed)

    def identify(
        self, printed: Sequence[str | None], tax_ids: Sequence[str | None]
    ) -> list[Supplier | None]:
        """``resolve_one`` of each (name, tax id) pair, None where there is no name: each
        distinct pair is resolved once and shares its one ``Supplier``."""
        if not len(printed):
            return []
        names = np.asarray(printed, dtype=object)
        taxes = np.asarray(tax_ids, dtype=object)
        codes = row_codes([names, taxes])
        distinct = [
            self.resolve_one(names[row], _text(taxes[row])) if isinstance(names[row], str) else None
            for row in first_rows(codes).tolist()
        ]
        return [distinct[code] for code in codes.tolist()]

    def resolve(
        self, printed: Sequence[str | None], tax_ids: Sequence[str | None] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Ids and shown names (object arrays, None where there is no name) of many invoices."""
        taxes = tax_ids if tax_ids is not None else [None] * len(printed)
        found = self.identify(printed, taxes)
        ids = np.array([s.id if s else None for s in found], dtype=object)
        shown = np.array([s.name if s else None for s in found], dtype=object)
        return ids, shown


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


NO_TABLE = SupplierDirectory()  # folding only: for callers that were given no table
