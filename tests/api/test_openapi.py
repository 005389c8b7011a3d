"""Fuzz every operation of the OpenAPI schema: no 5xx, and every response matches the schema."""

from __future__ import annotations

import atexit
import shutil
import tempfile

import hypothesis
import schemathesis
from hypothesis import HealthCheck
from schemathesis.checks import positive_data_acceptance
from sqlmodel import Session

from tests.api.conftest import AUTH, TOKEN
from webrecall.api.main import create_app
from webrecall.core import db as dbm
from webrecall.core.settings import Settings


def _seed(settings) -> None:  # type: ignore[no-untyped-def]
    """One finished round with a model, domains, a queue item and a label, so reads return real rows."""
    with Session(dbm.get_engine(settings.db_url)) as db:
        rnd = dbm.Round(number=1, status="done", crawl_id="CC-MAIN-DEV", params={"seed_patterns": ["docs.python.org/"]},
                        totals={"pages": 10, "html_pages": 4, "recalled": 2, "domains": 2, "errors": {},
                                "languages": {"en": 4}})  # fmt: skip
        db.add(rnd)
        db.flush()
        model = dbm.Model(version="r1-1", round_id=rnd.id, path="models/r1-1", metrics={"f1": 0.9})
        db.add(model)
        db.flush()
        rnd.model_id = model.id
        db.add_all([
            dbm.DomainStat(round_id=rnd.id or 0, domain="docs.python.org", site="python.org", pages=3, recalled=2,
                           fraction=0.67, related=True),
            dbm.DomainStat(round_id=rnd.id or 0, domain="example.com", site="example.com", pages=1),
            dbm.QueueItem(round_id=rnd.id or 0, domain="example.com", priority=0.5,
                          details={"proposals": [{"pattern": "example.com/docs/", "samples": ["https://example.com/docs/a"]}]}),
            dbm.Label(pattern="docs.python.org/", label="code", annotator="alice"),
        ])  # fmt: skip
        db.commit()


def _app():  # type: ignore[no-untyped-def]
    """The app on a throwaway data dir (built at collection: schemathesis parametrizes from the schema).

    The source refuses connections at once and without retries: a fuzzed crawl id never reaches the network.
    """
    data = tempfile.mkdtemp(prefix="webrecall-fuzz-")
    atexit.register(shutil.rmtree, data, True)
    settings = Settings(data_dir=data, database_url="", api_token=TOKEN, source_base_url="http://127.0.0.1:9/",
                        http_retries=0, http_timeout=2.0)  # fmt: skip
    dbm.migrate(settings.db_url)
    _seed(settings)
    return create_app(settings)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
@hypothesis.settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors_and_responses_match_the_schema(case: schemathesis.Case) -> None:
    # Every check but "schema-valid data is accepted": what a schema cannot say (does the crawl exist, does a
    # pattern have 4 literal characters, threshold xor top-K) is rightly a 4xx with the reason.
    case.call_and_validate(headers=AUTH, excluded_checks=[positive_data_acceptance])
