#!/usr/bin/env python3
"""Threshold gate: no Python module outside the thresholds model and loader may hold a threshold.

The seed's grep gate (§2.1, ``grep -rn "THRESHOLD\\s*="``) rebuilt on the ``ast`` module, so it
also sees annotated, lower-case, attribute and tuple bindings and literals used directly in
comparisons. ``config/thresholds.yaml`` (found from this file: repo root = parent of ``.ci``) is
read with PyYAML for its keys and values; nothing else is imported from the project.

What is scanned: every ``*.py`` under the repo root, except anything under a hidden directory
(``.venv``, ``.git``, ``.ci`` ...), ``tests/``, ``build/``, ``__pycache__``, and the files
``resources/thresholds.py`` (loading), ``invoice_assets/domain/thresholds.py`` (the model and its
invariants) and ``.ci/threshold_gate.py``. Paths given as arguments are scanned
instead: files as they are, directories with the same exclusions below them.

A finding is printed as ``path:line: reason``; the gate exits 1 if there is any, else 0 with
``threshold gate: N files scanned, 0 findings``. A missing or malformed thresholds file exits 2.

(a) Threshold-named binding. An assignment target (``=``, annotated ``:``, walrus; module, class or
    function level; a plain name or the attribute of ``self.x = ...``; tuple targets are paired
    with tuple values) bound to a numeric literal (int or float, optionally with a sign) when the
    name
      * contains ``THRESHOLD`` or ``TOLERANCE``, in any case (``bug_report_rate_threshold = 0.1``);
      * or equals a key of thresholds.yaml or ends with ``_`` + a key (``RATIO``,
        ``ROUNDING_DELTA``, ``TOTAL_MISMATCH_SEVERE_RATIO``). At module and class level this is
        compared in any case (config fields such as ``low_confidence: float = 0.6``); inside a
        function only upper-case names count, because lower-case locals are working variables
        (``ratio = 0.0`` before a division), not configuration.
    Any literal value counts here, 0 and 1 included: ``MIN_DIST_PRICE = 0.0`` is a copy.
(b) Threshold literal in a comparison. A ``<``, ``<=``, ``>`` or ``>=`` whose operand on either
    side is a numeric literal whose absolute value equals a value of thresholds.yaml, except 0
    and 1 (sign checks and probabilities are structural, not thresholds): ``delta >= 500.0``,
    ``x < 0.6``. Equality (``==``, ``!=``) is not a threshold comparison and is not checked
    (``len(parts) != 2`` is a shape check). Comparisons inside a function whose name starts with
    ``test_`` (or nested in one) are skipped.
(c) Escape hatch. A comment ``# threshold-gate: ok (<reason>)`` on any line of the flagged
    statement or expression exempts it; the reason is mandatory. A comment starting with
    ``# threshold-gate`` in any other form (a bare ``# threshold-gate: ok``, empty parentheses, a
    typo) is itself a finding, so a marker can never silently fail to apply.
A file that cannot be read or parsed is a finding too: the gate cannot vouch for it.

Not for: checking the values themselves (``invoice-ops validate-config`` does that).
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config" / "thresholds.yaml"
SKIP_DIRS = frozenset({"tests", "build", "__pycache__"})
SKIP_FILES = frozenset(
    {
        ROOT / "resources" / "thresholds.py",
        ROOT / "invoice_assets" / "domain" / "thresholds.py",
        ROOT / ".ci" / "threshold_gate.py",
    }
)
NAME_WORDS = ("THRESHOLD", "TOLERANCE")
EXEMPT_VALUES = frozenset({0.0, 1.0})
ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
MARKER = re.compile(r"#\s*threshold-gate\b", re.IGNORECASE)
VALID_MARKER = re.compile(r"#\s*threshold-gate:\s*ok\s*\(\s*[^\s)].*\)")


@dataclass(frozen=True)
class Config:
    keys: frozenset[str]  # upper case, as in the YAML
    values: frozenset[float]  # compared against literals, 0 and 1 removed


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def load_config(path: Path = CONFIG) -> Config:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not all(isinstance(b, dict) for b in raw.values()):
        raise ValueError(f"{path}: expected a mapping of sections to mappings")
    keys, values = set(), set()
    for body in raw.values():
        for key, value in body.items():
            keys.add(str(key).upper())
            if isinstance(value, int | float) and not isinstance(value, bool):
                values.add(abs(float(value)))
    return Config(frozenset(keys), frozenset(values - EXEMPT_VALUES))


def numeric_literal(node: ast.AST) -> float | None:
    """The value of ``5``, ``-0.05`` or ``+2.0``; None for anything else (bools included)."""
    sign = 1.0
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return sign * float(node.value)
    return None


def threshold_name(name: str, config: Config, *, any_case: bool) -> bool:
    upper = name.upper()
    if any(word in upper for word in NAME_WORDS):
        return True
    candidate = upper if any_case else name
    return any(candidate == key or candidate.endswith("_" + key) for key in config.keys)


def _bindings(target: ast.AST, value: ast.AST | None) -> Iterator[tuple[str, ast.AST | None]]:
    """(bound name, bound value) pairs; tuple targets are paired with tuple values."""
    if isinstance(target, ast.Name):
        yield target.id, value
    elif isinstance(target, ast.Attribute):
        yield target.attr, value
    elif isinstance(target, ast.Tuple | ast.List):
        values = value.elts if isinstance(value, ast.Tuple | ast.List) else None
        if values is not None and len(values) != len(target.elts):
            values = None
        for i, element in enumerate(target.elts):
            yield from _bindings(element, values[i] if values is not None else None)


class _Visitor(ast.NodeVisitor):
    def __init__(self, config: Config) -> None:
        self.config = config
        self.functions: list[str] = []
        self.hits: list[tuple[ast.AST, str]] = []

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self.functions.append(getattr(node, "name", "<lambda>"))
        self.generic_visit(node)
        self.functions.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def _binding(self, node: ast.AST, targets: Iterable[ast.AST], value: ast.AST | None) -> None:
        any_case = not self.functions
        for target in targets:
            for name, bound in _bindings(target, value):
                number = numeric_literal(bound) if bound is not None else None
                if number is not None and threshold_name(name, self.config, any_case=any_case):
                    self.hits.append(
                        (node, f"threshold-like name {name!r} bound to literal {number:g}")
                    )

    def visit_Assign(self, node: ast.Assign) -> None:
        self._binding(node, node.targets, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._binding(node, [node.target], node.value)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._binding(node, [node.target], node.value)
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        if not any(name.startswith("test_") for name in self.functions):
            operands = [node.left, *node.comparators]
            for i, op in enumerate(node.ops):
                if not isinstance(op, ORDERING):
                    continue
                for operand in (operands[i], operands[i + 1]):
                    number = numeric_literal(operand)
                    if number is not None and abs(number) in self.config.values:
                        self.hits.append(
                            (node, f"comparison with literal {number:g}, a thresholds.yaml value")
                        )
                        break
        self.generic_visit(node)


def _comments(source: str) -> dict[int, str]:
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string
    return comments


def scan_source(source: str, path: str, config: Config) -> list[Finding]:
    try:
        tree = ast.parse(source, filename=path)
        comments = _comments(source)
    except (SyntaxError, ValueError, tokenize.TokenError) as exc:
        line = getattr(exc, "lineno", None) or 1
        return [Finding(path, line, f"cannot parse, the gate cannot vouch for it: {exc}")]
    findings: list[Finding] = []
    valid: set[int] = set()
    for line, text in comments.items():
        if VALID_MARKER.search(text):
            valid.add(line)
        elif MARKER.search(text):
            findings.append(
                Finding(path, line, "malformed marker: write '# threshold-gate: ok (<reason>)'")
            )
    visitor = _Visitor(config)
    visitor.visit(tree)
    for node, reason in visitor.hits:
        first = getattr(node, "lineno", 1)
        last = getattr(node, "end_lineno", None) or first
        if not any(line in valid for line in range(first, last + 1)):
            findings.append(Finding(path, first, reason))
    return sorted(set(findings), key=lambda f: (f.line, f.reason))


def _skipped_dir(relative: Path) -> bool:
    return any(part.startswith(".") or part in SKIP_DIRS for part in relative.parts[:-1])


def python_files(paths: list[Path]) -> Iterator[Path]:
    """Files to scan; the two allowed homes of threshold values are never scanned."""
    for path in paths:
        if path.is_dir():
            files = [f for f in sorted(path.rglob("*.py")) if not _skipped_dir(f.relative_to(path))]
        else:
            files = [path]
        yield from (f for f in files if f.resolve() not in SKIP_FILES)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        config = load_config()
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"threshold gate: cannot read {CONFIG}: {exc}", file=sys.stderr)
        return 2
    targets = [Path(arg) for arg in args] or [ROOT]
    scanned, findings = 0, []
    for file in python_files(targets):
        scanned += 1
        try:
            source = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            findings.append(Finding(_shown(file), 1, f"cannot read: {exc}"))
            continue
        findings.extend(scan_source(source, _shown(file), config))
    for finding in findings:
        print(finding)
    print(f"threshold gate: {scanned} files scanned, {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
