"""The business rules (SPEC §5), pure and vectorised: records and frames, validation, pricing,
total mismatch, flags and scores, incidents and hints, feedback, reports' figures, suppliers,
days and the thresholds model. Imports nothing of Dagster, SQLAlchemy or the adapters
(``resources``); assets, checks, the API and the CLI call these rules and never restate them."""
