"""Market data resource: PTF/YEKDEM prices, distribution tariffs and tax rates from ``config/``.

Reads and checks the CSV/YAML files and returns the domain's ``MarketData`` value object. A file
with a missing column, a non-numeric price or a duplicate key fails loudly here, not as a silent
NaN in pricing.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import dagster as dg
import pandas as pd
import yaml
from pydantic import Field

from invoice_assets.domain.market import MarketData, TaxRates, normalise_label

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
PRICE_COLUMNS = ("month", "ptf_tl_per_mwh", "yekdem_tl_per_mwh", "source")
TARIFF_COLUMNS = (
    "valid_from",
    "tariff_group",
    "voltage_level",
    "tariff_term",
    "dist_tl_per_kwh",
    "source",
)


class MarketDataError(ValueError):
    """A market data file that must not be used."""


def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MarketDataError(f"{path}: missing columns {missing}")
    return frame


def _numeric(frame: pd.DataFrame, column: str, path: Path) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() | (values < 0)
    if bad.any():
        raise MarketDataError(
            f"{path}: {column} not a number ≥ 0 on rows {list(frame.index[bad] + 2)}"
        )
    return values.astype("float64")


def load_prices(path: Path) -> pd.DataFrame:
    frame = _read_csv(path, PRICE_COLUMNS)
    if not frame["month"].str.fullmatch(r"\d{4}-(0[1-9]|1[0-2])").all():
        raise MarketDataError(f"{path}: month must be YYYY-MM")
    if frame["month"].duplicated().any():
        raise MarketDataError(
            f"{path}: duplicate months {sorted(frame['month'][frame['month'].duplicated()])}"
        )
    frame["ptf_tl_per_mwh"] = _numeric(frame, "ptf_tl_per_mwh", path)
    frame["yekdem_tl_per_mwh"] = _numeric(frame, "yekdem_tl_per_mwh", path)
    return frame[list(PRICE_COLUMNS)]


def load_tariffs(path: Path) -> pd.DataFrame:
    frame = _read_csv(path, TARIFF_COLUMNS)
    frame["valid_from"] = pd.to_datetime(frame["valid_from"], format="%Y-%m-%d")
    frame["dist_tl_per_kwh"] = _numeric(frame, "dist_tl_per_kwh", path)
    keys = ["valid_from", "tariff_group", "voltage_level", "tariff_term"]
    normalised = frame[keys].assign(**{k: normalise_label(frame[k]) for k in keys[1:]})
    if normalised.duplicated().any():
        raise MarketDataError(f"{path}: duplicate tariff rows")
    return frame[list(TARIFF_COLUMNS)]


def load_tax_rates(path: Path) -> TaxRates:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        btv, vat = raw["btv"], raw["vat"]
        return TaxRates(
            btv_default=float(btv["default"]),
            vat_default=float(vat["default"]),
            btv_by_group={
                _label(k): float(v) for k, v in (btv.get("by_tariff_group") or {}).items()
            },
            vat_by_group={
                _label(k): float(v) for k, v in (vat.get("by_tariff_group") or {}).items()
            },
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MarketDataError(f"{path}: {exc}") from exc


def _label(value: str) -> str:
    return str(normalise_label(pd.Series([value])).iloc[0])


@cache
def _load(config_dir: str, multiplier: float) -> MarketData:
    base = Path(config_dir)
    return MarketData(
        prices=load_prices(base / "market_prices.csv"),
        tariffs=load_tariffs(base / "distribution_tariffs.csv"),
        tax=load_tax_rates(base / "tax_rates.yaml"),
        agreement_multiplier=multiplier,
    )


def load_market_data(
    config_dir: Path | str = CONFIG_DIR, agreement_multiplier: float = 1.01
) -> MarketData:
    """Market data from a config directory (cached per directory and multiplier)."""
    return _load(str(config_dir), float(agreement_multiplier))


class MarketDataResource(dg.ConfigurableResource):
    """Prices, tariffs and taxes for pricing offers (files under ``config_dir``)."""

    config_dir: str = Field(
        default=str(CONFIG_DIR),
        description="Directory with market_prices.csv, distribution_tariffs.csv, tax_rates.yaml.",
    )
    agreement_multiplier: float = Field(
        default=1.01, gt=0, description="Offer energy = (PTF + YEKDEM) × this multiplier."
    )

    def load(self) -> MarketData:
        """The validated market data."""
        return load_market_data(self.config_dir, self.agreement_multiplier)
