"""Services: what the product does with its adapters, shared by the Dagster surface, the ops API
and the CLI: settings and the day layout, reports, readiness, operator status, materialising days,
the post-deploy smoke test, inbox scans and run monitoring. No Dagster definitions live here; a
service that runs the graph is handed the definitions by its caller.
"""
