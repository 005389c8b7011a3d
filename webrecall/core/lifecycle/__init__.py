"""A round from creation to finalize: spec, status, tasks, training, local runner."""
