"""The bottom layer: process-level primitives every other layer may use and that use nothing of
the project (the clock, pausing the garbage collector)."""
