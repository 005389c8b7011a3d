"""The Label page's pattern field refuses what every other entry point refuses, with the same reason."""

from __future__ import annotations

from sqlmodel import select
from streamlit.testing.v1 import AppTest

from tests.annotator.conftest import APP, World
from tests.core.urls.test_patterns import UNSAFE
from webrecall.core.db import Label, session


def test_the_pattern_field_refuses_unsafe_patterns_with_their_reason(world: World) -> None:
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["user"] = "alice"
    at.run()
    at.radio[0].set_value(1).run()
    for bad, reason in [(b, r) for b, r in UNSAFE if "surrogate" not in r]:  # a browser sends UTF-8: none of those
        at.text_input(key="edit-1").set_value(bad).run()
        next(b for b in at.button if b.label == "Code").click()
        at.run()
        assert any(reason in e.value for e in at.error), (bad, [e.value for e in at.error])
    with session(world.db_url) as db:
        assert db.exec(select(Label)).all() == []
    assert not at.exception
