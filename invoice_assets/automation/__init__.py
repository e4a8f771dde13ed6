"""The Dagster automation around the assets: jobs, schedules and sensors."""
