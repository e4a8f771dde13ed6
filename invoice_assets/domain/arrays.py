"""Small vectorised helpers shared by the rules (labels chosen by ordered conditions)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def first_match(
    conditions: Sequence[np.ndarray], labels: Sequence[str | None], default: str | None = None
) -> np.ndarray:
    """Per row, the label of the first true condition (an object array; ``default`` if none)."""
    n = len(conditions[0]) if conditions else 0
    choice = np.full(n, len(labels), dtype=np.intp)  # index of the label; the last is default
    for index in range(len(conditions) - 1, -1, -1):  # later conditions first: the first wins
        choice[np.asarray(conditions[index], dtype=bool)] = index
    return np.array([*labels, default], dtype=object)[choice]


def row_codes(columns: Sequence[np.ndarray]) -> np.ndarray:
    """One integer per row naming its combination of values across ``columns`` (0, 1, … in order
    of first appearance; nulls are a value). Hashes each column once instead of tuples of rows."""
    n = len(columns[0]) if len(columns) else 0
    key, span = np.zeros(n, dtype="int64"), 1
    for column in columns:
        values = np.asarray(column)
        if values.dtype.kind in "iu" and n and values.min() >= -1:  # already codes (-1 = null)
            codes, size = values.astype("int64") + 1, int(values.max()) + 2
        else:
            codes, distinct = pd.factorize(values, use_na_sentinel=False)
            size = len(distinct)
        if span * size >= 2**62:  # keep the mixed-radix key inside int64
            key, distinct = pd.factorize(key)
            span = len(distinct)
        key, span = key * size + codes, span * size
    return pd.factorize(key)[0].astype("int64")


def first_rows(codes: np.ndarray) -> np.ndarray:
    """For codes 0..k-1, the first row holding each code."""
    first = np.full(int(codes.max()) + 1 if len(codes) else 0, len(codes), dtype="int64")
    np.minimum.at(first, codes, np.arange(len(codes), dtype="int64"))
    return first


def rate(numerator: float, denominator: float) -> float:
    """numerator / denominator as a float, 0.0 on a zero denominator (the SPEC's rule for rates)."""
    return float(numerator) / float(denominator) if denominator else 0.0


def objects(values: np.ndarray | Sequence[object]) -> pd.Series:
    """An object-dtype column: pandas would otherwise infer its ``str`` dtype from an array of
    strings, converting every value (and every later comparison) at ~0.5 µs a row. A list of
    documents (dicts, lists) stays one document per row."""
    return pd.Series(values, dtype="object", copy=False)


def columns_frame(
    columns: dict[str, np.ndarray | pd.Series | list], index: pd.Index | None = None
) -> pd.DataFrame:
    """A frame holding each of ``columns`` as its own block, without copying.

    ``pd.DataFrame(dict)`` stacks same-dtype columns into one 2-D block: a copy of every value
    into a fresh allocation (96 MB for twelve float columns of 1M rows), which is above glibc's
    mmap threshold, so its pages are faulted in anew on every call — a quarter of the domain's
    time at 1M invoices. Arrays must be the caller's own fresh results, never buffers it writes
    to later; a column of another frame goes in as its Series (pandas then copies on write),
    not as ``to_numpy()``, whose read-only view would make the new column read-only. Object
    arrays and lists (of labels or of documents) become object columns (see ``objects``).
    """

    def column(values: np.ndarray | pd.Series | list) -> np.ndarray | pd.Series:
        if isinstance(values, list) or (isinstance(values, np.ndarray) and values.dtype == object):
            return pd.Series(values, index=index, dtype="object", copy=False)
        return values

    return pd.DataFrame(
        {name: column(values) for name, values in columns.items()}, index=index, copy=False
    )


def text_or_none(value: object) -> str | None:
    """A label as text, None for anything else (None, NaN)."""
    return value if isinstance(value, str) else None


def decode(codes: np.ndarray, uniques: np.ndarray) -> np.ndarray:
    """``uniques[codes]`` as an object array, None where the code is -1 (null)."""
    table = np.empty(len(uniques) + 1, dtype=object)
    table[:-1] = uniques
    return table[codes]


def labels(values: pd.Series) -> np.ndarray:
    """The values of a categorical series as an object array with None for missing."""
    return decode(values.cat.codes.to_numpy(), values.cat.categories.to_numpy(dtype=object))
