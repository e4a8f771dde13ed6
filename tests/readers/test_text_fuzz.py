"""Whatever text comes in, the reader returns valid records or one ReaderError, never a crash."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invoice_assets.domain.records import ExtractionRecord, parse_record
from resources.readers.errors import ReaderError
from resources.readers.text_clean import clean_text
from resources.readers.text_invoice import read_invoice_text
from tests.readers.expect import LOW

WORDS = [
    "Aktif Enerji Bedeli",
    "Yüksek Kademe",
    "Ek Tüketim",
    "Dağıtım Bedeli",
    "BTV",
    "KDV",
    "(Matrah",
    ")",
    "%20",
    "Fatura Tutarı",
    "ÖDENECEK TUTAR",
    "Yuvarlama",
    "kWh",
    "KWH",
    "TL",
    "Fatura No:",
    "ABC2025000123456",
    "ETTN:",
    "3f2b8c1e-5d4a-4e2b-9c7d-1a2b3c4d5e6f",
    "Fatura Dönemi",
    "2025/11",
    "Kasım 2025",
    "31.12.2025",
    "Gündüz",
    "T1",
    "TÜKETİM TOPLAMI",
    "Reaktif",
    "A.Ş.",
    "VKN:",
    "1234567890",
    "Güç Bedeli",
    "Tarife",
    "Sanayi",
    "OG",
    "Toplam",
    "-",
    ",",
    ".",
    "x",
    "=",
    "  ",
    "1 2 3 .4",
    "AAKKTTİİFF",
]
NUMBER = st.one_of(
    st.decimals(min_value=-(10**7), max_value=10**9, places=2, allow_nan=False).map(str),
    st.sampled_from(["1.284.316,42", "148.206", "100.000", ",000", "5218.734", "9" * 40, "0"]),
    st.integers(min_value=-(10**6), max_value=10**12).map(str),
)
TOKEN = st.one_of(st.sampled_from(WORDS), NUMBER, st.text(max_size=6))
LINE = st.lists(TOKEN, max_size=9).map(" ".join)
PAGE = st.lists(LINE, max_size=25).map("\n".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PAGE, min_size=1, max_size=3), st.sampled_from(["text", "ocr", "html"]))
def test_any_text_gives_valid_records_or_a_reader_error(pages: list[str], method: str) -> None:
    try:
        records = read_invoice_text(pages, method=method, low_confidence=LOW)
    except ReaderError as exc:
        assert exc.code == "no_invoice_found"
        return
    assert records
    for record in records:
        assert isinstance(parse_record(record), ExtractionRecord), parse_record(record)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_cleaning_any_text_keeps_its_line_count(text: str) -> None:
    cleaned = clean_text(text)
    assert cleaned.count("\n") == text.replace("\r\n", "\n").replace("\r", "\n").count("\n")
    assert "\x00" not in cleaned


def test_long_number_rows_and_many_candidates_stay_fast() -> None:
    import time

    row = " ".join(f"{i}.{i:03d},{i % 100:02d}" for i in range(1, 61))
    page = "\n".join(
        [f"Aktif Enerji Bedeli {row}", *(f"KDV {row}" for _ in range(100))]
        + [f"Fatura Tutarı {row}" for _ in range(100)]
        + [f"KDV Matrahı {row}" for _ in range(100)]
    )
    started = time.perf_counter()
    read_invoice_text([page] * 3, low_confidence=LOW)
    assert time.perf_counter() - started < 10  # measured ~1 s on the 2-core box
