"""``python -m invoice_assets.standin --port P --answers DIR``: serve the stand-in by hand."""

from invoice_assets.standin.server import main

raise SystemExit(main())
