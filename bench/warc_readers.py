"""Records/s of fastwarc vs warcio on the benchmark crawl: why webrecall.core.crawl.warc is built on fastwarc.

Run: .venv/bin/python bench/warc_readers.py [--repeat 3]
Each reader iterates every record of every CC-MAIN-BENCH WARC and reads its payload; best of N runs.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "corpus"
FILES = sorted(glob.glob(str(CORPUS / "crawl-data/CC-MAIN-BENCH/segments/*/warc/*.warc.gz")))


def fastwarc_records(path: str) -> int:
    from fastwarc.warc import ArchiveIterator

    n = 0
    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh, parse_http=True, verify_digests=False):
            record.reader.read()
            n += 1
    return n


def warcio_records(path: str) -> int:
    from warcio.archiveiterator import ArchiveIterator

    n = 0
    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh):
            record.content_stream().read()
            n += 1
    return n


def recall_pages(path: str) -> int:
    """The full reader: fastwarc plus status/type filters and charset decoding (counts records)."""
    from webrecall.core.crawl.warc import iter_pages
    from webrecall.core.page import Stats

    stats = Stats()
    with open(path, "rb") as fh:
        for _ in iter_pages(fh, warc_path=path, stats=stats):
            pass
    return stats["records"]


READERS: dict[str, Callable[[str], int]] = {
    "fastwarc": fastwarc_records,
    "warcio": warcio_records,
    "webrecall.core.crawl.warc.iter_pages": recall_pages,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not FILES:
        sys.exit(f"no WARC files under {CORPUS}")
    size = sum(os.path.getsize(f) for f in FILES)
    print(f"{len(FILES)} file(s), {size / 1e6:.1f} MB compressed, best of {args.repeat}")
    print(f"{'reader':<24}{'records':>9}{'seconds':>10}{'records/s':>12}{'MB/s':>8}")
    for name, read in READERS.items():
        best, records = float("inf"), 0
        for _ in range(args.repeat):
            start = time.perf_counter()
            records = sum(read(f) for f in FILES)
            best = min(best, time.perf_counter() - start)
        print(f"{name:<24}{records:>9}{best:>10.3f}{records / best:>12,.0f}{size / 1e6 / best:>8.1f}")


if __name__ == "__main__":
    main()
