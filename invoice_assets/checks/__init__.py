"""Asset checks: small functions returning ``AssetCheckResult``, called by the assets on the
frames they just wrote (so a check sees exactly its partition, never every partition)."""
