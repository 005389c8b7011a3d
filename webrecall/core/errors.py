"""Error classes sorted at the task boundary into fatal / retry / skip (a bad page is only counted)."""

from collections.abc import Callable


class WebrecallError(Exception):
    """Base class: a clear, user-facing reason."""


class RetryableError(WebrecallError):
    """Transient: network 5xx, timeouts, throttling. The WARC task is retried with backoff."""


class FatalError(WebrecallError):
    """Retrying cannot help: bad configuration, unknown crawl, missing model."""


class SkippableError(WebrecallError):
    """The input itself is broken (e.g. not a WARC file): counted, the round goes on without it."""


class Conflict(WebrecallError):
    """The request conflicts with the service's state (a round is already unfinished): a 409, not a retry."""


class NotFoundError(FatalError):
    """The location does not exist (HTTP 404/410, missing file)."""


class Cancelled(Exception):
    """The round was cancelled while a WARC task ran: the task stops at its next batch, its outputs discarded."""


StopCheck = Callable[[], bool]
"""A WARC task's `should_stop`: asked between batches; True stops the task with `Cancelled`."""


def stop_if(should_stop: StopCheck | None) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled("the round was cancelled")
