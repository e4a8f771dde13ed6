"""Turkish number parsing (facts §4) and text cleaning (facts §2), on strings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from resources.readers.numbers import find_numbers, number_candidates, parse_tr_number
from resources.readers.text_clean import clean_line, clean_text, label_key


@pytest.mark.parametrize(
    ("token", "value"),
    [
        ("1.284.316,42", "1284316.42"),
        ("31.208,40", "31208.40"),
        ("51820,35", "51820.35"),
        ("2,91847562", "2.91847562"),
        ("18340.27", "18340.27"),
        ("5218.734", "5218.734"),
        (",000", "0.000"),
        ("%20,00", "20.00"),
        ("385.611,85 TL", "385611.85"),
        ("123.456,789 KWH", "123456.789"),
        ("1.234,56 ₺", "1234.56"),
        ("-3.120,448", "-3120.448"),
        ("−13.717,49", "-13717.49"),
        ("1.234,56-", "-1234.56"),
        ("0.500", "0.500"),
        ("1.284.316", "1284316"),
        ("1,284,316.42", "1284316.42"),
        ("12\u00a0345,67", "12345.67"),
    ],
)
def test_every_observed_form_parses(token: str, value: str) -> None:
    assert parse_tr_number(token) == Decimal(value)


@pytest.mark.parametrize("token", ["148.206", "100.000", "1.500", "-999.999"])
def test_the_ambiguous_form_gives_both_readings_and_no_guess(token: str) -> None:
    readings = number_candidates(token)
    assert len(readings) == 2
    assert readings[0] == Decimal(token)  # decimal first
    assert readings[1] == Decimal(token.replace(".", ""))
    assert parse_tr_number(token) is None


@pytest.mark.parametrize("token", ["31.12.2025", "12.34.56", "1.23,45", "abc", "", "1,2,3", "."])
def test_non_numbers_and_broken_groups_give_nothing(token: str) -> None:
    assert number_candidates(token) == ()
    assert parse_tr_number(token) is None


def test_find_numbers_skips_dates_ids_and_marks_rates() -> None:
    line = "Ek Tüketim -3.120,448 4,396000 -13.717,49 31.12.2025 31-10-2025 T1 ABC2025000123456"
    assert [n.token for n in find_numbers(line)] == ["-3.120,448", "4,396000", "-13.717,49"]
    rates = find_numbers("KDV %20 6.241,68 BTV 5 % 12,00")
    assert [(n.token, n.percent) for n in rates] == [
        ("6.241,68", False),
        ("5", True),
        ("12,00", False),
    ]
    assert [n.token for n in find_numbers("Tutar:1.234,56TL")] == ["1.234,56"]


def test_letter_spaced_digits_join_only_within_a_column() -> None:
    line = "A ktif Ene rji B e d e li  1 2 3 .4 0 6 ,7 1 8  3 ,1 2 3 4 5 6  3 8 5 .6 1 1 ,8 5"
    cleaned = clean_line(line)
    assert [n.value for n in find_numbers(cleaned)] == [
        Decimal("123406.718"),
        Decimal("3.123456"),
        Decimal("385611.85"),
    ]
    assert label_key(cleaned).startswith("aktifenerjibedeli")
    assert clean_line("Aktif 840 2,5 2.100,00") == "Aktif 840 2,5 2.100,00"  # normal text stays


def test_doubled_glyphs_collapse_on_a_doubled_line_only() -> None:
    assert clean_line("AAKKTTİİFF  EENNEERRJJİİ  44..227755") == "AKTİF  ENERJİ  4.275"
    assert clean_line("ÖÖDDEENNEECCEEKK  TTUUTTAARR  3377..445500,,0000") == (
        "ÖDENECEK  TUTAR  37.450,00"
    )
    assert clean_line("İlk Endeks 1100 Son Endeks 2255") == "İlk Endeks 1100 Son Endeks 2255"


def test_clean_text_keeps_lines_and_plain_spaces() -> None:
    text = "Fatura\u00a0Tutarı\t1.234,56\r\nÖdenecek −1,00"
    assert clean_text(text).split("\n") == ["Fatura Tutarı  1.234,56", "Ödenecek -1,00"]


def test_label_key_folds_turkish_letters_and_spacing() -> None:
    assert label_key("ÖDENECEK TUTAR") == "odenecektutar"
    assert label_key("Enerji Tük.Bed.-Düşük") == "enerjitukbeddusuk"
    assert label_key("AKTİF ENERJİ BEDELİ") == "aktifenerjibedeli"
    assert label_key("Dağıtım Bedeli") == "dagitimbedeli"
