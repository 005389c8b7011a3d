"""A round from creation to finalize, one lifecycle for both runners: the orchestration that reads and writes the
database (the pure passes are `webrecall.core.pipeline`).

spec (RoundSpec, create_round) -> status (the status machine, cancel, retry, failures) -> steps (each step, called
by `local` and by the Celery tasks alike) -> warc_task (one WARC in one phase) / expansion (labelled patterns across
the crawl) / training / model_store / dedup_stage (the corpus's dedup over rounds) -> finalize (totals, typed in
`totals`) ; export (a round's corpus, streamed), progress (the read model), run (`python -m
webrecall.core.lifecycle.run ROUND_ID`: a round in its own process).
"""
