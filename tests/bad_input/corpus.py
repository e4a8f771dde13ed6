"""A seeded corpus of malformed (and a few good) inbox files, each with what it must become.

Every file lists one expectation per invoice it holds (one for a ``.json``, one per non-blank line
for a ``.jsonl``): ``OK`` for a usable record, an error code for a pinned failure, a set of codes
where more than one reading is defensible, or ``ANY_FAILURE``/``ANY`` for randomly mutated records.
Implausible but well-typed records carry the flag validation must raise instead of a failure.
"""

from __future__ import annotations

import copy
import json
import os
import random
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import SMOKE
from tests.resources.test_openai_extractor import tiny_pdf, tiny_png

OK = "ok"
ANY_FAILURE = "<any failure>"
ANY = "<ok or any failure>"
# The machine-readable codes an inbox item may fail with (SPEC §4.1, domain/records.py).
KNOWN_CODES = frozenset(
    {
        "invalid_json",
        "invalid_encoding",
        "wrong_type",
        "non_finite_number",
        "confidence_out_of_range",
        "unknown_field",
        "missing_required_field",
        "value_too_long",
        "invalid_date",
        "invalid_period",
        "schema_violation",
        "unsupported_schema_version",
        "empty_file",
        "file_too_large",
        "unsupported_type",
        "extractor_unavailable",
        "duplicate_invoice",
        # the offline document readers (issue 15)
        "no_invoice_found",
        "image_invalid",
    }
)
MAX_FILE_BYTES = 10 * 1024 * 1024  # InboxExtractor's default limit

Expectation = str | frozenset[str]


@dataclass
class InboxFile:
    name: str
    content: bytes
    expected: list[Expectation]
    # invoice key (ettn) → flags validation must raise for an implausible but well-typed record
    flags: dict[str, set[str]] = field(default_factory=dict)
    stored_name: str = ""  # the name the queue and the extractions show (default: ``name``)

    def __post_init__(self) -> None:
        self.stored_name = self.stored_name or self.name


def base_record(ettn: str) -> dict[str, Any]:
    record = json.loads((SMOKE / "happy_path_invoice.json").read_text(encoding="utf-8"))
    record["invoice"]["ettn"] = ettn
    record["invoice"]["invoice_no"] = f"NO-{ettn}"
    return record


def dump(record: Any, **kwargs: Any) -> bytes:
    return json.dumps(record, ensure_ascii=False, **kwargs).encode("utf-8")


def _with(ettn: str, path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    record = base_record(ettn)
    target = record
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return record


def _without(ettn: str, path: tuple[str, ...]) -> dict[str, Any]:
    record = base_record(ettn)
    target = record
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return record


KWH = ("extraction", "consumption_kwh", "value")
PRICE = ("extraction", "current_active_unit_price_tl_per_kwh", "value")
TOTAL = ("extraction", "invoice_total_with_vat_tl", "value")

# Values a mutation may put anywhere in a record.
JUNK: tuple[Any, ...] = (
    None,
    "x",
    "",
    "1.234,56",
    "  42 ",
    -1,
    0,
    1e308,
    -1e308,
    10**30,
    10**400,
    True,
    [],
    {},
    [1, 2],
    {"value": 1},
    "A" * 600,
    "2025-13-45",
    "İstanbul Ödeme Şirketi ğüç",
    "' OR 1=1 --",
    float("nan"),
    float("inf"),
)


def _paths(record: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(record, dict):
        for key, value in record.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(record, list):
        for index, value in enumerate(record):
            out += _paths(value, (*prefix, index))
    return out


def mutate(rng: random.Random, ettn: str) -> dict[str, Any]:
    """A record with one to three random values replaced, deleted or added."""
    record = base_record(ettn)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(record) if p != ("invoice", "ettn")]
        path = rng.choice(paths)
        parent = record
        for part in path[:-1]:
            parent = parent[part]
        action = rng.random()
        if action < 0.7:
            parent[path[-1]] = copy.deepcopy(rng.choice(JUNK))
        elif action < 0.85 and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[f"extra_{rng.randint(0, 99)}"] = rng.choice(JUNK)
    return record


def corpus(seed: int = 20250506) -> list[InboxFile]:
    """The files of one inbox day; names are unique and sorted order is processing order."""
    rng = random.Random(seed)
    files: list[InboxFile] = []

    def add(name: str, content: bytes, *expected: Expectation, **flags: set[str]) -> None:
        files.append(InboxFile(name, content, list(expected), dict(flags)))

    good = dump(base_record("good-1"))
    # -- not JSON, or not an object ---------------------------------------------------------
    for n in range(3):
        cut = rng.randint(10, len(good) - 2)
        add(f"a-truncated-{n}.json", good[:cut], "invalid_json")
    add("a-array.json", b"[" + good + b"]", "schema_violation")
    add("a-empty-array.json", b"[]", "schema_violation")
    add("a-scalar.json", b"42", "unsupported_type")
    add("a-null.json", b"null", "unsupported_type")
    add("a-deep-array.json", b"[" * 100_000 + b"]" * 100_000, "invalid_json")
    add("a-deep-object.json", b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "invalid_json")
    nested: Any = 1
    for _ in range(200):
        nested = {"n": nested}
    add("a-nested-value.json", dump(_with("nested", KWH, nested)), "wrong_type")
    add("b-empty.json", b"", "empty_file")
    add("b-whitespace.json", b"  \n\t\r\n ", "empty_file")
    add("b-binary.bin", b"\x00\x01" + rng.randbytes(4096), "unsupported_type")
    add(
        "b-binary-brace.json",
        b"{" + rng.randbytes(2048),
        frozenset({"invalid_json", "invalid_encoding"}),
    )
    add("b-too-large.json", b" " * (MAX_FILE_BYTES + 1) + b"{}", "file_too_large")
    # documents are read offline now (issue 15): a blank page holds no invoice, and a PNG that
    # ends after its header is not an image
    add("b-scan.pdf", tiny_pdf("bad-input"), "no_invoice_found")
    add("b-photo.png", tiny_png(), "image_invalid")
    # -- wrong encodings ------------------------------------------------------------------------
    latin = _with(
        "latin-1", ("invoice", "supplier"), "Ödeme Müşteri A.Ş.".replace("ş", "s").replace("Ş", "S")
    )
    add("c-latin1.json", dump(latin).decode("utf-8").encode("latin-1"), "invalid_encoding")
    add(
        "c-cp1254.json",
        dump(_with("cp1254", ("invoice", "supplier"), "Işık Enerji Şti."))
        .decode("utf-8")
        .encode("cp1254"),
        "invalid_encoding",
    )
    utf16 = frozenset({"invalid_encoding", "unsupported_type", "invalid_json"})
    add("c-utf16-bom.json", dump(base_record("utf16")).decode().encode("utf-16"), utf16)
    add("c-utf16le.json", dump(base_record("utf16le")).decode().encode("utf-16-le"), utf16)
    add("c-utf8-bom.json", b"\xef\xbb\xbf" + dump(base_record("utf8-bom")), OK)
    # -- wrong types, non-finite numbers, ranges, lengths ---------------------------------------
    add("d-kwh-string.json", dump(_with("kwh-str", KWH, "10000")), "wrong_type")
    add("d-kwh-turkish.json", dump(_with("kwh-tr", KWH, "10.000,00")), "wrong_type")
    add("d-total-turkish.json", dump(_with("total-tr", TOTAL, "1.234,56")), "wrong_type")
    add("d-kwh-bool.json", dump(_with("kwh-bool", KWH, True)), "wrong_type")
    add("d-kwh-huge-int.json", dump(_with("kwh-bigint", KWH, 10**400)), "wrong_type")
    add("d-supplier-int.json", dump(_with("sup-int", ("invoice", "supplier"), 12345)), "wrong_type")
    add("d-extraction-list.json", dump(_with("ext-list", ("extraction",), [])), "wrong_type")
    add("d-lines-dict.json", dump(_with("lines-dict", ("line_items",), {"a": 1})), "wrong_type")
    add("e-nan.json", dump(_with("nan", KWH, float("nan"))), "non_finite_number")
    add("e-infinity.json", dump(_with("inf", TOTAL, float("inf"))), "non_finite_number")
    add("e-minus-infinity.json", dump(_with("-inf", PRICE, float("-inf"))), "non_finite_number")
    add(
        "e-1e400.json",
        dump(base_record("1e400")).replace(b'"value": 10000', b'"value": 1e400'),
        "non_finite_number",
    )
    add(
        "e-confidence-high.json",
        dump(_with("conf-hi", ("extraction", "consumption_kwh", "confidence"), 1.5)),
        "confidence_out_of_range",
    )
    add(
        "e-confidence-neg.json",
        dump(_with("conf-neg", ("line_items", 0, "confidence"), -0.1)),
        "confidence_out_of_range",
    )
    add(
        "e-page-zero.json",
        dump(_with("page0", ("extraction", "consumption_kwh", "page"), 0)),
        "schema_violation",
    )
    add(
        "f-long-invoice-no.json",
        dump(_with("long-no", ("invoice", "invoice_no"), "9" * 600)),
        "value_too_long",
    )
    add("f-long-ettn.json", dump(_with("E" * 513, ("invoice", "supplier"), "x")), "value_too_long")
    add(
        "f-long-supplier.json",
        dump(_with("long-sup", ("invoice", "supplier"), "S" * 10_000)),
        "value_too_long",
    )
    add(
        "f-long-evidence.json",
        dump(_with("long-ev", ("extraction", "vat_tl", "evidence"), "e" * 5000)),
        "value_too_long",
    )
    add(
        "f-many-lines.json",
        dump(_with("many-lines", ("line_items",), base_record("x")["line_items"] * 501)),
        "value_too_long",
    )
    add(
        "f-empty-supplier.json",
        dump(_with("empty-sup", ("invoice", "supplier"), "")),
        "schema_violation",
    )
    add(
        "g-unknown-field.json",
        dump(_with("unknown", ("invoice", "customer_name"), "x")),
        "unknown_field",
    )
    add(
        "g-no-supplier.json",
        dump(_without("no-sup", ("invoice", "supplier"))),
        "missing_required_field",
    )
    add(
        "g-no-schema-version.json",
        dump(_without("no-sv", ("schema_version",))),
        "missing_required_field",
    )
    add(
        "g-schema-version-2.json",
        dump(_with("sv2", ("schema_version",), 2)),
        "unsupported_schema_version",
    )
    add(
        "g-bad-date.json",
        dump(_with("bad-date", ("invoice", "invoice_date"), "2025-02-30")),
        "invalid_date",
    )
    add(
        "g-date-format.json",
        dump(_with("date-fmt", ("invoice", "invoice_date"), "03.02.2025")),
        "invalid_date",
    )
    add(
        "g-bad-period.json",
        dump(_with("bad-period", ("invoice", "invoice_period"), "2025/01")),
        "invalid_period",
    )
    # -- awkward but valid text: NUL, control characters, RTL, emoji, lone surrogates -----------
    add(
        "h-nul-in-supplier.json",
        dump(_with("nul", ("invoice", "supplier"), "Enerji\x00 A.Ş.")),
        "schema_violation",
    )
    add(
        "h-nul-in-key.json",
        dump(_with("nul-key", ("invoice", "supp\x00lier"), "x")),
        "schema_violation",
    )
    add(
        "h-nul-in-line.json",
        dump(_with("nul-line", ("line_items", 0, "unit"), "\x00")),
        "schema_violation",
    )
    add(
        "h-unicode-supplier.json",
        dump(_with("uni", ("invoice", "supplier"), "Ödeme ⚡ שלום \u202e\t\x07")),
        OK,
    )
    add(
        "h-lone-surrogate.json",
        dump(base_record("surrogate")).replace(b"smoke", b"sm\\ud800oke"),
        "schema_violation",
    )
    add(
        "h-surrogate-key.json",
        b'{"schema_version": 1, "invoice": {"supplier": "x", "\\ud800": 1}}',
        "schema_violation",
    )
    add(
        "h-surrogate-date.json",
        dump(base_record("sur-date")).replace(b'"2025-02-03"', b'"\\udfff"'),
        "invalid_date",
    )
    add(
        "h-injection-invoice-no.json",
        dump(_with("inj", ("invoice", "invoice_no"), "'; DROP TABLE incidents; --")),
        OK,
    )
    # -- file names that are not UTF-8 (a cp1254 "Ödeme" from a Windows zip) or are unusual ------
    for raw, stored in (
        (b"fatura-\xd6deme.json", "fatura-\\xd6deme.json"),
        (b"fatura-\xdcdeme.json", "fatura-\\xdcdeme.json"),
        (b"n-\xff\xfe.jsonl", "n-\\xff\\xfe.jsonl"),
    ):
        name = os.fsdecode(raw)
        files.append(InboxFile(name, dump(base_record(f"name-{stored}")), [OK], stored_name=stored))
    add("n-Fatura_Ödeme_ğüşıöç İ.json", dump(base_record("name-utf8")), OK)
    add("n-' OR 1=1 --.json", dump(base_record("name-injection")), OK)
    add("n-" + "x" * 240 + ".json", dump(base_record("name-long")), OK)
    # -- duplicates ---------------------------------------------------------------------------
    dup = base_record("dup-1")
    add("i-dup-a.json", dump(dup), OK)
    add("i-dup-b.json", dump(_with("dup-1", TOTAL, 41_999.0)), "duplicate_invoice")
    add("i-dup-c-identical.json", dump(dup), "duplicate_invoice")
    add("i-dup-d-identical-broken.json", good[:40], "invalid_json")
    add("i-dup-e-identical-broken.json", good[:40], "invalid_json")
    # -- routing by content, not by name --------------------------------------------------------
    add("j-pretty.json", dump(base_record("pretty"), indent=2), OK)
    add("j-record.txt", dump(base_record("as-txt")), OK)
    add(
        "j-two-lines.json",
        dump(base_record("two-1")) + b"\n" + dump(base_record("two-2")) + b"\n",
        OK,
        OK,
    )
    # -- implausible but well-typed: validation flags, not extraction failures ----------------
    add(
        "k-negative-kwh.json",
        dump(_with("neg-kwh", KWH, -5)),
        OK,
        **{"neg-kwh": {"CONSUMPTION_MISSING"}},
    )
    add(
        "k-zero-kwh.json",
        dump(_with("zero-kwh", KWH, 0)),
        OK,
        **{"zero-kwh": {"CONSUMPTION_MISSING"}},
    )
    add(
        "k-absurd-price.json",
        dump(_with("abs-price", PRICE, 1e308)),
        OK,
        **{"abs-price": {"VALIDATION_FAILED"}},
    )
    add(
        "k-negative-price.json",
        dump(_with("neg-price", PRICE, -5)),
        OK,
        **{"neg-price": {"VALIDATION_FAILED"}},
    )
    add(
        "k-absurd-total.json",
        dump(_with("abs-total", TOTAL, 1e308)),
        OK,
        **{"abs-total": {"INVOICE_TOTAL_MISMATCH"}},
    )
    add(
        "k-zero-total.json",
        dump(_with("zero-total", TOTAL, 0)),
        OK,
        **{"zero-total": {"MISSING_FIELDS"}},
    )
    add(
        "k-absurd-kwh.json",
        dump(_with("abs-kwh", KWH, 1e308)),
        OK,
        **{"abs-kwh": {"VALIDATION_WARNINGS"}},
    )
    add(
        "k-tiny-kwh.json",
        dump(_with("tiny-kwh", KWH, 5e-324)),
        OK,
        **{"tiny-kwh": {"VALIDATION_WARNINGS"}},
    )
    # -- a .jsonl mixing good and bad lines -----------------------------------------------------
    mixed = [
        (dump(base_record("mix-1")), OK),
        (dump(base_record("mix-2"))[:-7], "invalid_json"),
        (b"", None),  # blank lines are not invoices
        (dump(_with("mix-3", KWH, float("nan"))), "non_finite_number"),
        (b"[1, 2, 3]", "schema_violation"),
        (b"   ", None),
        (dump(base_record("mix-4")), OK),
        (dump(base_record("mix-1")), "duplicate_invoice"),
        (dump(_with("mix-5", KWH, "1.234,56")), "wrong_type"),
        (
            '{"schema_version": 1, "invoice": {"supplier": "Ödeme"}}'.encode("latin-1"),
            "invalid_encoding",
        ),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "invalid_json"),
        (dump(_with("mix-6", KWH, -5)), OK),
    ]
    add(
        "m-mixed.jsonl",
        b"\n".join(line for line, _ in mixed) + b"\n",
        *[e for _, e in mixed if e is not None],
        **{"mix-6": {"CONSUMPTION_MISSING"}},
    )
    broken_first = [
        dump(base_record("bf-1"))[:30],
        dump(base_record("bf-2")),
        dump(base_record("bf-3")),
    ]
    add("m-broken-first-line.jsonl", b"\r\n".join(broken_first), "invalid_json", OK, OK)
    # -- randomly mutated records (one file each, and one .jsonl of them) -----------------------
    for n in range(25):
        add(f"r-mutated-{n:02d}.json", dump(mutate(rng, f"mut-{n}")), ANY)
    lines = [dump(mutate(rng, f"mutl-{n}")) for n in range(25)]
    add("r-mutated.jsonl", b"\n".join(lines), *[ANY] * len(lines))
    return files
