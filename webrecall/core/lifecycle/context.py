"""What every step of a round works with, read once per step: the round row, its recorded params, the store and
the settings. A step takes a `RoundContext` instead of a round id, so a round is read once by the runner that starts
the step (a Celery task, or the local runner between steps), not again in each function it calls.

The row is a snapshot: what changes while a round runs (its status, its model, a threshold chosen at training,
the top-K cut at finalize) is read again where it matters (`refresh`, `status.is_cancelled`).
"""

from __future__ import annotations

from dataclasses import dataclass

from webrecall.core import params
from webrecall.core.db import Round, session
from webrecall.core.errors import FatalError
from webrecall.core.params import RoundParams
from webrecall.core.settings import Settings
from webrecall.core.storage.store import Store


@dataclass(frozen=True, slots=True)
class RoundContext:
    settings: Settings
    round: Round
    params: RoundParams
    store: Store

    @classmethod
    def load(cls, settings: Settings, round_id: int, *, store: Store | None = None) -> RoundContext:
        """The round `round_id` as it is now; FatalError if it does not exist."""
        with session(settings.db_url) as db:
            rnd = db.get(Round, round_id)
        if rnd is None:
            raise FatalError(f"round {round_id} does not exist")
        return cls.of(settings, rnd, store=store)

    @classmethod
    def of(cls, settings: Settings, rnd: Round, *, store: Store | None = None) -> RoundContext:
        return cls(settings, rnd, params.of(rnd), store or Store(settings.data_dir))

    @property
    def id(self) -> int:
        return self.round.id or 0

    @property
    def number(self) -> int:
        return self.round.number

    def refresh(self) -> RoundContext:
        """The same round read again (after a step that changed it), with the same store."""
        return RoundContext.load(self.settings, self.id, store=self.store)

    def other(self, rnd: Round) -> RoundContext:
        """Another round (an earlier one of the same corpus) with this context's settings and store."""
        return RoundContext.of(self.settings, rnd, store=self.store)
