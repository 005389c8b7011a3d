"""Resynchronising a per-record gzip WARC after a corrupt stretch, on a forward-only stream.

Common Crawl stores each WARC record as its own gzip member, so a reader that hits corrupt bytes can go on at
the next member: the next `1f 8b 08` whose member inflates whole (CRC checked) to a `WARC/` header. A false
magic inside compressed data fails that check. `ReplayStream` sits between the raw stream (a file, or HTTP,
which cannot seek) and fastwarc: it keeps the bytes since the current record's start, bounded, so the member
the reader was in can be checked again and fastwarc restarted at any kept offset without reading twice.
"""

from __future__ import annotations

import zlib
from typing import BinaryIO, Literal

GZIP_MEMBER = b"\x1f\x8b\x08"
CHUNK = 1 << 16
Member = Literal["whole", "big", "damaged", "other"]


class ReplayStream:
    """`read`/`tell` for fastwarc, with absolute offsets (fastwarc takes its record offsets from `tell()` at its
    start). Keeps the bytes from `mark()` on, at most `keep` of them behind the read position."""

    def __init__(self, raw: BinaryIO, *, keep: int) -> None:
        self.raw, self.keep = raw, keep
        self.buf = bytearray()
        self.start = 0  # offset of buf[0]
        self.pos = 0  # offset of the next byte handed out
        self.marked = 0
        self.eof = False

    @property
    def end(self) -> int:
        return self.start + len(self.buf)

    def _fill(self, n: int = CHUNK) -> bool:
        """Read more of the raw stream into the buffer; False at its end."""
        if self.eof:
            return False
        chunk = self.raw.read(n)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _drop_before(self, offset: int) -> None:
        cut = min(offset, self.end) - self.start
        if cut > 0:
            del self.buf[:cut]
            self.start += cut

    def read(self, n: int = -1) -> bytes:
        n = n if n is not None and n >= 0 else CHUNK
        if self.pos == self.end and not self.eof:  # streaming on: hand the raw chunk over as it is
            out = self.raw.read(n)
            if not out:
                self.eof = True
            self.buf += out
        else:  # replaying kept bytes after a restart
            i = self.pos - self.start
            out = bytes(self.buf[i : i + n])
        self.pos += len(out)
        dead = max(self.marked, self.pos - self.keep) - self.start
        if dead > len(self.buf) // 2 and dead > CHUNK:  # amortised: the buffer is not shifted on every read
            self._drop_before(self.start + dead)
        return out

    def tell(self) -> int:
        return self.pos

    def mark(self, offset: int) -> None:
        """A record starts here: the bytes before it are no longer needed."""
        self.marked = offset

    def restart(self, offset: int) -> None:
        """The next read starts at `offset` (a kept byte)."""
        if not self.start <= offset <= self.end:
            raise ValueError(f"offset {offset} is not kept ({self.start}-{self.end})")
        self.pos = self.marked = offset

    def head(self, n: int) -> bytes:
        while self.end - self.pos < n and self._fill():
            pass
        return bytes(self.buf[self.pos - self.start : self.pos - self.start + n])

    def has_data(self, offset: int) -> bool:
        """Whether the stream goes on past `offset` (read on to see)."""
        while self.end <= offset and self._fill():
            pass
        return self.end > offset

    def member(self, offset: int, *, cap: int) -> tuple[Member, int]:
        """What the gzip member at `offset` is, and its end if whole: "whole" (it inflates to its end, CRC
        checked, to a WARC record), "big" (over `cap` inflated with no error so far: taken at its header's word,
        end unknown), "damaged" (it starts like a WARC record, then fails) or "other" (no WARC record)."""
        if offset < self.start:
            return "other", 0
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        fed, out, head = offset, 0, b""
        while True:
            if fed >= self.end and not self._fill():
                return ("damaged" if head == b"WARC/" else "other"), 0  # the stream ends inside the member
            chunk = bytes(self.buf[fed - self.start : fed - self.start + CHUNK])
            fed += len(chunk)
            while chunk:
                try:
                    data = inflate.decompress(chunk, CHUNK)
                except zlib.error:
                    return ("damaged" if head == b"WARC/" else "other"), 0
                chunk = inflate.unconsumed_tail
                head += data[: 5 - len(head)]
                if not b"WARC/".startswith(head):
                    return "other", 0
                out += len(data)
                if inflate.eof:
                    if head != b"WARC/":
                        return "other", 0
                    return "whole", fed - len(chunk) - len(inflate.unused_data)
                if out > cap:
                    return "big", 0

    def next_member(self, offset: int, *, cap: int) -> tuple[int, int] | None:
        """(offset, damaged) of the first whole WARC member at or after `offset`; `damaged`: the WARC members
        passed over on the way (they started like a record and failed the check). None if the stream ends first.
        Only the bytes from the candidate on are kept: a long corrupt stretch costs no memory."""
        damaged = 0
        at = offset
        while True:
            self._drop_before(at)
            self.marked = max(self.marked, self.start)
            found = self.buf.find(GZIP_MEMBER, at - self.start)
            if found < 0:
                at = max(at, self.end - len(GZIP_MEMBER) + 1)
                if not self._fill():
                    return None
                continue
            candidate = self.start + found
            kind, _ = self.member(candidate, cap=cap)
            if kind in ("whole", "big"):
                return candidate, damaged
            damaged += kind == "damaged"
            at = candidate + 1
