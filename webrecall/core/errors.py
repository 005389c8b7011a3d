"""Error classes sorted at the task boundary into fatal / retry / skip (a bad page is only counted)."""


class WebrecallError(Exception):
    """Base class: a clear, user-facing reason."""


class RetryableError(WebrecallError):
    """Transient: network 5xx, timeouts, throttling. The WARC task is retried with backoff."""


class FatalError(WebrecallError):
    """Retrying cannot help: bad configuration, unknown crawl, missing model."""


class SkippableError(WebrecallError):
    """The input itself is broken (e.g. not a WARC file): counted, the round goes on without it."""


class NotFoundError(FatalError):
    """The location does not exist (HTTP 404/410, missing file)."""
