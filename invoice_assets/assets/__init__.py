"""The daily assets, one module each (``extractions`` → ``validated_invoices`` → ``offers`` →
``quality_scores`` → ``incidents`` → ``run_summary`` / ``system_health_report``), declared with
``daily.daily_asset``; ``reads`` is how a stage reads the stages it depends on."""
