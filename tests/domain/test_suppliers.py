"""``domain/suppliers.py``: one canonical supplier id however a supplier's name is printed
(SPEC §4.1), with the shipped table ``config/suppliers.yaml`` where a test needs known suppliers.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invoice_assets.domain import frames, records
from invoice_assets.domain.suppliers import (
    NO_TABLE,
    KnownSupplier,
    Supplier,
    SupplierDirectory,
    fold_name,
)
from resources.suppliers import load_suppliers
from tests.domain.conftest import MAX_BYTES, make_record

BOGAZICI_FORMS = [
    "CK Bogazici",
    "ck bogazici",
    "CK Boğaziçi",
    "CK BOĞAZİÇİ",
    "CK BOGAZICI",
    "  ck   Boğaziçi ",
    "ck bogazici a.ş.",
    "CK Boğaziçi A.Ş.",
    "CK Boğaziçi Elektrik Perakende Satış A.Ş.",
    "CK BOĞAZİÇİ ELEKTRİK PERAKENDE SATIŞ A. Ş.",
    "CK Boğaziçi Elk. Per. Sat. A.Ş.",
    "CK-Boğaziçi Elektrik Perakende Satış Anonim Şirketi",
]


@pytest.fixture(scope="module")
def shipped() -> SupplierDirectory:
    return load_suppliers()


@pytest.mark.parametrize("printed", BOGAZICI_FORMS)
def test_every_printed_form_of_ck_bogazici_folds_to_one_id(printed: str) -> None:
    assert fold_name(printed) == "ck-bogazici"


@pytest.mark.parametrize(
    ("printed", "folded"),
    [
        ("Gediz Ltd. Şti.", "gediz"),
        ("Gediz Ltd.Şti.", "gediz"),
        ("Kâğıt Sanayi ve Ticaret A.Ş.", "kagit"),
        ("Acme Enerji T.A.Ş.", "acme-enerji"),
        ("Vangölü EPSAŞ", "vangolu"),
        ("IĞDIR ENERJİ", "igdir-enerji"),
    ],
)
def test_legal_forms_sector_words_and_turkish_letters_fold_away(printed: str, folded: str) -> None:
    assert fold_name(printed) == folded


def test_a_name_made_only_of_suffix_words_keeps_its_first_word() -> None:
    assert fold_name("Elektrik Perakende Satış A.Ş.") == "elektrik"
    assert fold_name("A.Ş.") == "as"
    assert fold_name("—") == ""  # nothing to fold: no letter or digit


def test_words_that_name_the_supplier_are_kept() -> None:
    assert fold_name("CK Enerji") == "ck-enerji"  # "enerji" is a name, not a sector suffix
    assert fold_name("Enerjisa Başkent") != fold_name("Enerjisa Toroslar")
    assert fold_name("CK Boğaziçi") != fold_name("CK Enerji")


@pytest.mark.parametrize("printed", BOGAZICI_FORMS)
def test_a_known_supplier_is_shown_by_its_table_name(shipped, printed: str) -> None:
    assert shipped.resolve_one(printed) == Supplier("ck-bogazici", "CK Boğaziçi")


def test_an_alias_that_folds_elsewhere_names_the_known_supplier(shipped) -> None:
    assert shipped.resolve_one("Boğaziçi Elektrik Perakende Satış A.Ş.").id == "ck-bogazici"
    assert shipped.resolve_one("BAŞKENT ELEKTRİK PERAKENDE SATIŞ A.Ş.") == Supplier(
        "enerjisa-baskent", "Enerjisa Başkent"
    )


def test_an_unknown_supplier_is_shown_as_printed_and_keyed_by_its_fold(shipped) -> None:
    assert shipped.resolve_one("Acme Enerji A.Ş.") == Supplier("acme-enerji", "Acme Enerji A.Ş.")


def test_the_shipped_table_names_the_large_retail_suppliers_without_tax_ids(shipped) -> None:
    for name in ("CK Boğaziçi", "Enerjisa Başkent", "Enerjisa Toroslar", "Aydem", "Gediz"):
        assert shipped.resolve_one(f"{name} Elektrik Perakende Satış A.Ş.").name == name
    assert len(shipped.names) >= 9
    assert dict(shipped.by_tax_id) == {}  # no tax id is invented


TABLE = SupplierDirectory.of(
    [KnownSupplier("CK Boğaziçi", ("Boğaziçi EPSAŞ",), ("1234567890",)), KnownSupplier("Aydem")]
)


def test_a_known_tax_id_names_its_supplier_whatever_is_printed() -> None:
    assert TABLE.resolve_one("Some Other Name", "1234567890") == Supplier(
        "ck-bogazici", "CK Boğaziçi"
    )


def test_a_known_name_wins_over_a_tax_id_the_table_does_not_list() -> None:
    # The table knows CK Boğaziçi by name but not this tax id: still one supplier, not two.
    assert TABLE.resolve_one("CK Bogazici", "9999999999").id == "ck-bogazici"


def test_an_unknown_supplier_with_a_tax_id_is_keyed_by_the_tax_id() -> None:
    assert TABLE.resolve_one("Acme Enerji", "12345678901") == Supplier("12345678901", "Acme Enerji")
    assert NO_TABLE.resolve_one("Acme Enerji", "12345678901").id == "12345678901"


def test_identify_resolves_each_distinct_pair_once_and_skips_missing_names() -> None:
    found = TABLE.identify(
        ["CK Bogazici", "ck bogazici", None, "CK Bogazici"], [None, None, None, None]
    )
    assert found[0] is found[3]  # one object per distinct (name, tax id)
    assert found[0] == found[1] == Supplier("ck-bogazici", "CK Boğaziçi")
    assert found[2] is None
    ids, shown = TABLE.resolve(["aydem elektrik", "x"])
    assert ids.tolist() == ["aydem", "x"]
    assert shown.tolist() == ["Aydem", "x"]


def test_a_table_naming_one_form_for_two_suppliers_is_refused_with_every_problem() -> None:
    with pytest.raises(ValueError) as raised:
        SupplierDirectory.of(
            [
                KnownSupplier("Gediz", ("Ege Elektrik",), ("123",)),
                KnownSupplier("Aydem", ("EGE ELEKTRİK A.Ş.",), ("1234567890",)),
                KnownSupplier("Gediz Elektrik A.Ş."),  # same id as the first entry
                KnownSupplier("Yeni", (), ("1234567890",)),
            ]
        )
    message = str(raised.value)
    assert "ege" in message and "'gediz' and 'aydem'" in message
    assert "'123' is not 10 or 11 digits" in message
    assert "same id 'gediz'" in message
    assert "tax id 1234567890 names 'aydem' and 'yeni'" in message


def test_a_malformed_tax_id_is_ignored() -> None:
    assert TABLE.resolve_one("Acme", "12345").id == "acme"
    assert TABLE.resolve_one("Acme", "123456789٠").id == "acme"  # an Arabic-Indic digit


@given(st.text(max_size=60), st.one_of(st.none(), st.from_regex(r"[0-9]{10,11}", fullmatch=True)))
def test_resolving_an_id_gives_the_same_id(printed: str, tax_id: str | None) -> None:
    # Ids must be fixed points: the store migration and reruns re-derive keys from them.
    shipped = load_suppliers()
    first = shipped.resolve_one(printed, tax_id)
    assert shipped.resolve_one(first.id).id == first.id
    assert shipped.resolve_one(first.name, tax_id).id == first.id


# --- invoice keys and frames (records.py, frames.py) ---------------------------------------------


def _items(*suppliers: str, **meta: object) -> list[records.InboxItem]:
    out = []
    for number, supplier in enumerate(suppliers):
        record = make_record(invoice={"supplier": supplier, **meta})
        raw = json.dumps(record, ensure_ascii=False).encode()
        out += records.parse_inbox_content(f"{number}.json", raw, MAX_BYTES)
    return out


def test_one_invoice_printed_with_two_spellings_has_one_key(shipped) -> None:
    # Issue 17: "CK Bogazici" and "ck bogazici" gave two invoice keys for one invoice.
    first, second = records.mark_duplicates(_items("CK Bogazici", "ck bogazici"), None, shipped)
    assert first.invoice_key == "ck-bogazici|INV-0001|2025-01"
    assert second.error is not None and second.error.code == "duplicate_invoice"


def test_the_long_printed_form_and_a_short_one_key_alike_across_batches(shipped) -> None:
    seen: set[str] = set()
    (day_one,) = records.mark_duplicates(
        _items("CK Boğaziçi Elektrik Perakende Satış A.Ş."), seen, shipped
    )
    (day_two,) = records.mark_duplicates(_items("CK Bogazici"), None, shipped)
    assert day_one.invoice_key == day_two.invoice_key == "ck-bogazici|INV-0001|2025-01"
    assert day_two.invoice_key in seen


def test_an_alias_keys_like_its_supplier_only_with_the_table(shipped) -> None:
    alias = "Boğaziçi Elektrik Perakende Satış A.Ş."
    (with_table,) = records.mark_duplicates(_items(alias), None, shipped)
    (without,) = records.mark_duplicates(_items(alias))
    assert with_table.invoice_key == "ck-bogazici|INV-0001|2025-01"
    assert without.invoice_key == "bogazici|INV-0001|2025-01"


def test_a_record_carrying_a_tax_id_is_keyed_by_it() -> None:
    (item,) = records.mark_duplicates(_items("Acme Enerji", supplier_tax_id="1234567890"))
    assert item.invoice_key == "1234567890|INV-0001|2025-01"


def test_an_ettn_key_does_not_depend_on_the_supplier(shipped) -> None:
    items = records.mark_duplicates(_items("CK Bogazici", ettn="E-1"), None, shipped)
    assert items[0].invoice_key == "E-1"


@pytest.mark.parametrize("tax_id", ["1234567890", "12345678901"])
def test_a_supplier_tax_id_of_ten_or_eleven_digits_is_accepted(tax_id: str) -> None:
    parsed = records.parse_record(make_record(invoice={"supplier_tax_id": tax_id}))
    assert isinstance(parsed, records.ExtractionRecord)
    assert parsed.invoice.supplier_tax_id == tax_id


@pytest.mark.parametrize("tax_id", ["123", "123456789012", "12345678a0", "123456789٠", 1234567890])
def test_a_malformed_supplier_tax_id_fails_the_record_naming_the_field(tax_id: object) -> None:
    parsed = records.parse_record(make_record(invoice={"supplier_tax_id": tax_id}))
    assert isinstance(parsed, records.ItemError)
    assert parsed.field == "invoice.supplier_tax_id"


def test_the_invoice_frame_shows_the_table_name_and_carries_the_id(shipped) -> None:
    items = records.mark_duplicates(
        _items("CK BOĞAZİÇİ ELEKTRİK PERAKENDE SATIŞ A.Ş.", "Acme Enerji A.Ş.", invoice_no=None)
        + _items("Acme", supplier_tax_id="1234567890", invoice_no="X"),
        None,
        shipped,
    )
    invoices, _ = frames.items_to_frames(items)
    assert invoices["supplier"].tolist() == ["CK Boğaziçi", "Acme Enerji A.Ş.", "Acme"]
    assert invoices["supplier_id"].tolist() == ["ck-bogazici", "acme-enerji", "1234567890"]
    assert invoices["supplier_tax_id"].tolist() == [None, None, "1234567890"]
    again = frames.record_from_row(invoices.iloc[2].to_dict())
    assert again["invoice"]["supplier_tax_id"] == "1234567890"  # the record round-trips


def test_items_never_resolved_with_a_table_are_folded_alike_in_keys_and_frames() -> None:
    items = _items("CK Bogazici", "ck bogazici a.ş.", ettn=None, invoice_no=None)
    invoices, _ = frames.items_to_frames(items)
    assert invoices["supplier_id"].tolist() == ["ck-bogazici", "ck-bogazici"]
    assert invoices["supplier"].tolist() == ["CK Bogazici", "ck bogazici a.ş."]
