"""The commands of ``invoice-ops``, one module per theme, registered by ``invoice_assets.cli``.

``common`` holds what every command shares (the printer, errors, exit codes, day and threshold
arguments); ``pipeline``, ``incidents``, ``runs`` and ``service`` hold the commands themselves.

Not for: the ``invoice-ops`` group or entry point (``invoice_assets/cli.py`` defines both and adds
these commands to it), nor the work the commands do (that lives in the library modules they call).
"""
