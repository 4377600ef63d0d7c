"""acme-app-worker: depends on the broken app, so the plan must skip it (hand-written plan fixture)."""

raise AssertionError("a dependent of a failed stack must not run")
