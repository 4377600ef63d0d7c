"""crosswalk's compiler: load, validate, model, check, graph, emit, write."""
