"""The one error style of the domain: ``DomainError(code, message)``.

Every rule that refuses an input raises a subclass, carrying a machine-readable ``code`` (what the
API and the CLI print as ``error_code``) and a message for a person. Adapters map codes to their
own surface (an HTTP status, an exit code); the domain knows neither. Pydantic validators inside
the domain's models raise plain ``ValueError`` as pydantic requires; the callers turn those into
a ``DomainError`` (or an ``ItemError`` for an inbox item, which is data, not an exception).
"""

from __future__ import annotations


class DomainError(ValueError):
    """An input a domain rule refuses: ``code`` names the rule, ``message`` says what is wrong."""

    code = "invalid_input"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
