"""The one error a reader raises: a machine-readable code and a message for the operator."""

from __future__ import annotations


class ReaderError(Exception):
    """A document no reader could turn into records; ``code`` becomes the item's ``error_code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
