"""A round from creation to finalize, one lifecycle for both runners: the orchestration that reads and writes the
database (the pure passes are `webrecall.core.pipeline`).

spec (RoundSpec, `start_round`: validation and one round at a time) -> plan (the steps in order and the retry
policy, walked by `local` and by the Celery canvas) -> steps (each step, with its gate) over a context (the round,
its recorded params, the store) -> warc_task (one WARC in one phase) / expansion (labelled patterns across the
crawl) / training / model_store / dedup_stage (the corpus's dedup over rounds) -> finalize (totals, typed in
`totals`); threshold (the one keep rule), status (the status machine, cancel, retry, failures), export (a round's
corpus, streamed), progress (the read model), run (`python -m webrecall.core.lifecycle.run ROUND_ID`).
"""
