"""A round from creation to finalize, one lifecycle for both runners.

spec (RoundSpec, create_round) -> status (the status machine, cancel, retry, failures) -> steps (each step, called
by `local` and by the Celery tasks alike) -> warc_task (one WARC in one phase) / training / model_store ->
finalize (totals, typed in `totals`) ; progress (the read model), queries (the lookups every part shares),
run (`python -m webrecall.core.lifecycle.run ROUND_ID`: a round in its own process).
"""
