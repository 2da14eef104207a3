"""Alert simulation (issue 9): scenarios played end to end against a running mamori."""
