"""Personal data in evidence text: VKN (10 digits), TCKN (11 digits), Turkish mobile numbers and
e-mail addresses are masked by ``mask_pii`` (at most the last two digits, or the e-mail domain,
survive), and evidence reaches the store only masked, from pre-extracted JSON and from the OpenAI
extractor alike.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import String, Text, select

from invoice_assets.domain import privacy
from invoice_assets.domain.privacy import mask_pii
from invoice_assets.standin import StandIn
from resources.store import schema as s
from tests.assets.helpers import materialize_day, store_for
from tests.conftest import SMOKE, openai_day
from tests.resources.test_openai_extractor import KEY, tiny_pdf

VKN = "1234567890"
TCKN = "98765432109"
PHONES = (
    "+90 532 123 45 67",
    "0532 123 4567",
    "05321234567",
    "+905321234567",
    "+90-532-123-45-67",
    "(532) 123 45 67",
)
EMAIL = "ayse.yilmaz+fatura@firma-ornek.com.tr"
DAY = "2025-06-03"


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@pytest.mark.parametrize(
    ("label", "value"),
    [("VKN", VKN), ("TCKN", TCKN), *[("Tel", p) for p in PHONES]],
)
def test_tax_identity_and_phone_numbers_keep_at_most_their_last_two_digits(
    label: str, value: str
) -> None:
    masked = mask_pii(f"{label}: {value} —")

    assert masked is not None
    assert masked.startswith(f"{label}: ") and masked.endswith(" —")
    assert value not in masked
    kept = _digits(masked)
    assert len(kept) <= 2
    assert _digits(value).endswith(kept)


def test_an_email_address_keeps_only_its_domain() -> None:
    masked = mask_pii(f"e-posta: {EMAIL}, teşekkürler")

    assert masked is not None
    assert "ayse" not in masked and "yilmaz" not in masked and "fatura@" not in masked
    assert "@firma-ornek.com.tr" in masked
    assert masked.startswith("e-posta: ") and masked.endswith(", teşekkürler")


def test_a_sentence_with_every_kind_is_masked_and_amounts_dates_and_ids_stay() -> None:
    text = (
        f"Sayın Ayşe Yılmaz (TCKN {TCKN}), VKN {VKN}, tel {PHONES[0]} / {PHONES[1]}, {EMAIL}. "
        "Fatura No ABC2025000000123, ETTN f47ac10b-58cc-4372-a567-0e02b2c3d479, "
        "Tüketim: 10.000 kWh, Ödenecek tutar 1.234,56 TL, toplam 42.000,00 TL, "
        "dönem 2025-01, tarih 03.02.2025, birim fiyat 3,500000 TL/kWh"
    )

    masked = mask_pii(text)

    assert masked is not None
    for secret in (TCKN, VKN, "532 123 45", "0532 123", "ayse.yilmaz"):
        assert secret not in masked, secret
    for kept in (
        "Sayın Ayşe Yılmaz",
        "ABC2025000000123",
        "f47ac10b-58cc-4372-a567-0e02b2c3d479",
        "10.000 kWh",
        "1.234,56 TL",
        "42.000,00 TL",
        "2025-01",
        "03.02.2025",
        "3,500000 TL/kWh",
        "@firma-ornek.com.tr",
    ):
        assert kept in masked, kept
    assert mask_pii(masked) == masked  # masking twice changes nothing


@pytest.mark.parametrize("empty", [None, ""])
def test_nothing_to_mask_gives_the_input_back(empty: str | None) -> None:
    assert mask_pii(empty) == empty


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    number=st.integers(min_value=10**9, max_value=10**11 - 1).map(str),
    before=st.text(alphabet="abcçdefgğhıijklmnoöprsştuüvyz :;(", max_size=12),
    after=st.text(alphabet="abcçdefgğhıijklmnoöprsştuüvyz :;)", max_size=12),
)
def test_no_ten_or_eleven_digit_number_survives_masking(
    number: str, before: str, after: str
) -> None:
    masked = mask_pii(f"{before}{number}{after}")

    assert masked is not None
    assert number not in masked
    assert len(_digits(masked)) <= 2


def _record(ettn: str, evidence: str) -> dict:
    record = json.loads((SMOKE / "happy_path_invoice.json").read_text(encoding="utf-8"))
    record["invoice"]["ettn"] = ettn
    record["extraction"]["consumption_kwh"]["evidence"] = evidence
    record["extraction"]["invoice_total_with_vat_tl"]["evidence"] = f"Ödenecek 42.000,00 TL {EMAIL}"
    return record


def _stored_text(store) -> str:
    """Every text value of every table of the store, in one string."""
    chunks = []
    with store.engine.connect() as conn:
        for table in s.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text)]
            if columns:
                for row in conn.execute(select(*columns)):
                    chunks.extend(str(v) for v in row if v is not None)
    return "\n".join(chunks)


def test_evidence_is_stored_masked_from_json_files_and_from_the_openai_extractor(
    tmp_path: Path, apply_env
) -> None:
    pdf = tiny_pdf("privacy")
    answer = _record("pii-pdf", f"Abone TCKN {TCKN}, tel {PHONES[2]}, 10.000 kWh")
    with StandIn(api_key=KEY, answers={hashlib.sha256(pdf).hexdigest(): answer}) as standin:
        env, folder = openai_day(apply_env, tmp_path / "home", standin.base_url, KEY, DAY)
        record = _record("pii-json", f"VKN {VKN} Tel {PHONES[0]} Tüketim 10.000 kWh")
        (folder / "pii.json").write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        (folder / "scan.pdf").write_bytes(pdf)

        assert materialize_day(env, DAY).success

    store = store_for(env)
    for key in ("pii-json", "pii-pdf"):
        evidence = store.invoice_evidence(DAY, key)
        assert evidence is not None, key
        consumption = evidence["consumption_kwh"]["evidence"]
        assert "10.000 kWh" in consumption
        assert "***" in consumption
        assert evidence["consumption_kwh"]["page"] == 1
        total = evidence["invoice_total_with_vat_tl"]["evidence"]
        assert "@firma-ornek.com.tr" in total and "ayse.yilmaz" not in total
    stored = _stored_text(store)
    assert "10.000 kWh" in stored  # the evidence is there, masked
    for secret in (VKN, TCKN, "532 123 45 67", "05321234567", "ayse.yilmaz"):
        assert secret not in stored, f"unmasked {secret!r} stored"


def _three_substitutions(text: str) -> str:
    """``mask_pii`` as it was before its pre-check: the three substitutions on every text."""
    masked = privacy._EMAIL.sub(lambda m: f"***@{m.group(1)}", text)
    masked = privacy._PHONE.sub(lambda m: f"[phone ***{m.group(1)}]", masked)
    return privacy._ID_NUMBER.sub(lambda m: f"[id ***{m.group(1)}]", masked)


_PIECES = st.sampled_from(
    [
        VKN,
        TCKN,
        *PHONES,
        EMAIL,
        "0532\u00a0123\t45\u200967",  # other whitespace between the groups
        "(532)\n123-45-67",
        "1.234,56",
        "03.02.2025",
        "+90",
        "0",
        "5",
        "53",
        "(",
        ")",
        "-",
        " ",
        "\u00a0",
        "\t",
        ".",
        ",",
        "@",
        "a",
        "ş",
        "٣",  # a non-ASCII digit: ``\\d`` matches it in both patterns
    ]
)


@settings(max_examples=600, deadline=None, derandomize=True, database=None)
@given(
    text=st.one_of(
        st.lists(_PIECES, max_size=12).map("".join),
        st.text(alphabet="0123456789 ()+-.,@a\u00a0\n", max_size=40),
        st.lists(st.one_of(_PIECES, st.integers(0, 10**12).map(str)), max_size=8).map("".join),
    )
)
def test_the_pre_check_masks_exactly_what_the_three_substitutions_mask(text: str) -> None:
    assert mask_pii(text) == _three_substitutions(text)
