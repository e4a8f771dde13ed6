"""Extraction modes through the router against the real OpenAI client and the stand-in server,
and ``invoice-ops extract``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from invoice_assets.standin import StandIn
from resources.extractor import Document, InboxExtractor, Outcome, _sha
from resources.openai_extractor import OpenAIExtractor
from tests.conftest import invoke
from tests.documents.pdf import make_invoice_pdf
from tests.documents.spec import InvoiceSpec
from tests.extraction.pdf_docs import make_pdf
from tests.extraction.ubl_docs import UblSpec, make_ubl, xml_bomb
from tests.resources.test_openai_extractor import KEY, tiny_pdf

LOW = 0.6  # config/thresholds.yaml Validation.LOW_CONFIDENCE


@pytest.fixture
def standin():
    with StandIn(api_key=KEY) as server:
        yield server


def openai(standin: StandIn) -> OpenAIExtractor:
    return OpenAIExtractor(api_key=KEY, base_url=standin.base_url, max_retries=0)


def doc(name: str, content: bytes, kind: str = "pdf") -> Document:
    return Document(name, content, _sha(content), kind)


def answer(kwh: float, total: float) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "invoice": {"supplier": "Örnek Elektrik", "invoice_no": "ABC2025000123456"},
        "extraction": {
            "consumption_kwh": {"value": kwh, "confidence": 0.9, "evidence": "Tüketim", "page": 1},
            "current_active_unit_price_tl_per_kwh": {"value": 3.123456, "confidence": 0.9},
            "invoice_total_with_vat_tl": {"value": total, "confidence": 0.9, "page": 1},
        },
    }


def route(mode: str, docs: list[Document], standin: StandIn) -> list[Outcome]:
    outcomes, _ = InboxExtractor(mode=mode, low_confidence=LOW).route(docs, openai(standin))
    return outcomes


def test_auto_reads_offline_and_asks_openai_only_for_what_offline_cannot_read(standin):
    spec = InvoiceSpec()
    standin.answer(answer(100.0, 500.0))

    readable, unreadable = route(
        "auto", [doc("a.pdf", make_invoice_pdf(spec)), doc("scan.pdf", tiny_pdf())], standin
    )

    assert standin.calls == 1  # only the PDF offline could not read
    assert readable.method == "text"
    record = readable.items[0].item.record
    assert record is not None and record.invoice.invoice_no == spec.invoice_no
    assert unreadable.method == "openai"
    fallback = unreadable.items[0].item.record
    assert fallback is not None and fallback.extraction.consumption_kwh.value == 100.0


def test_offline_never_calls_openai_and_openai_mode_never_reads_offline(standin):
    [offline] = route("offline", [doc("scan.pdf", tiny_pdf())], standin)
    assert standin.calls == 0
    assert offline.items[0].item.error is not None
    assert offline.items[0].item.error.code == "no_invoice_found"

    standin.answer(answer(100.0, 500.0))
    [online] = route("openai", [doc("a.pdf", make_invoice_pdf(InvoiceSpec()))], standin)
    assert standin.calls == 1 and online.method == "openai"


def test_records_are_read_as_records_in_every_mode(tmp_path):
    record = b'{"schema_version": 1, "invoice": {"supplier": "CK Bogazici"}}'
    for mode in ("offline", "openai", "auto", "compare"):
        router = InboxExtractor(mode=mode, low_confidence=LOW)
        [outcome], _ = router.route([doc("r.json", record, "json")], OpenAIExtractor(api_key=""))
        assert outcome.method == "records" and outcome.items[0].item.record is not None, mode


def test_openai_mode_without_a_key_is_extractor_unavailable():
    router = InboxExtractor(mode="openai", low_confidence=LOW)

    [outcome], _ = router.route([doc("a.pdf", tiny_pdf())], OpenAIExtractor(api_key=""))

    error = outcome.items[0].item.error
    assert error is not None and error.code == "extractor_unavailable"


def test_compare_keeps_agreement_and_flags_disagreement_with_both_values(standin):
    spec = InvoiceSpec()
    expected = spec.expected()
    standin.answer(answer(expected["consumption_kwh"] * 1.1, expected["invoice_total_with_vat_tl"]))

    [outcome] = route("compare", [doc("a.pdf", make_invoice_pdf(spec))], standin)

    assert outcome.method == "compare"
    record = outcome.items[0].item.record
    assert record is not None
    kwh = record.extraction.consumption_kwh
    assert kwh.value == pytest.approx(expected["consumption_kwh"])  # the offline value stays
    assert kwh.confidence < LOW and kwh.evidence is not None
    assert "WARNING compare" in kwh.evidence and "OpenAI" in kwh.evidence
    total = record.extraction.invoice_total_with_vat_tl
    assert total.confidence >= LOW and "WARNING" not in (total.evidence or "")


def test_auto_takes_openai_for_key_fields_offline_left_below_low_confidence(standin, monkeypatch):
    # an energy line whose printed amount is not qty × price: offline keeps it below LOW
    spec = UblSpec()
    amounts = UblSpec.energy_amounts
    monkeypatch.setattr(UblSpec, "energy_amounts", lambda s: [a + 100 for a in amounts(s)])
    pdf = make_pdf([spec], qr=False)
    [offline] = route("offline", [doc("a.pdf", pdf)], standin)
    weak = offline.items[0].item.record
    assert weak is not None and weak.extraction.consumption_kwh.confidence < LOW
    standin.answer(answer(12345.678, 66876.97))

    [outcome] = route("auto", [doc("a.pdf", pdf)], standin)

    assert standin.calls == 1 and outcome.method == "openai"
    record = outcome.items[0].item.record
    assert record is not None
    kwh = record.extraction.consumption_kwh
    assert kwh.confidence == 0.9 and "offline read" in (kwh.evidence or "")


def test_openai_is_never_asked_about_xml_it_cannot_read(standin):
    xml = make_ubl(UblSpec()).replace(b">3.123456<", b">3.923456<")  # weak, but XML

    [outcome] = route("auto", [doc("a.xml", xml, "xml")], standin)

    assert standin.calls == 0 and outcome.method == "ubl"


# -- invoice-ops extract -------------------------------------------------------------------------


def test_extract_prints_records_and_exits_0_when_every_file_is_read(tmp_path, cli_env):
    spec = UblSpec()
    (tmp_path / "a.xml").write_bytes(make_ubl(spec))
    (tmp_path / "b.pdf").write_bytes(make_invoice_pdf(InvoiceSpec()))

    code, out, _ = invoke("extract", "--json", str(tmp_path / "a.xml"), str(tmp_path / "b.pdf"))

    assert code == 0
    reports = json.loads(out)
    assert [(r["method"], r["error"]) for r in reports] == [("ubl", None), ("text", None)]
    assert reports[0]["records"][0]["invoice"]["ettn"] == spec.ettn
    assert set(reports[0]) >= {"file", "method", "seconds", "records", "error"}


def test_extract_exits_1_when_a_file_fails_and_2_on_bad_usage(tmp_path, cli_env):
    bomb = tmp_path / "bomb.xml"
    bomb.write_bytes(xml_bomb())

    code, out, _ = invoke("extract", "--json", str(bomb))
    assert code == 1
    [report] = json.loads(out)
    assert report["records"] == [] and report["error"]["code"] == "xml_forbidden"

    assert invoke("extract", str(tmp_path / "missing.pdf"))[0] == 2
    assert invoke("extract")[0] == 2
    assert invoke("extract", "--mode", "nonsense", str(bomb))[0] == 2


def test_extract_honours_the_document_size_limit(tmp_path: Path, cli_env):
    big = tmp_path / "big.xml"
    big.write_bytes(make_ubl(UblSpec()))

    code, out, _ = invoke("extract", "--json", "--max-bytes", "100", str(big))

    assert code == 1 and json.loads(out)[0]["error"]["code"] == "file_too_large"
