"""PostgreSQL at crawl scale: 10 million domain rows written in bulk, and what the API and the annotator read.

Generates, at bench time, one round of 10M DomainStat rows (power-law pages per host and hosts per site, per-host
code shares from a beta law), a queue of 10M items (the highest priorities already done, as annotators leave it),
and 100,000 labels, into a fresh database migrated to head (every index of `webrecall.core.db`). The domain rows go
through `webrecall.core.bulk.copy_rows`, what finalize calls; a 200,000-row slice also through executemany.
Then each read the service makes is timed through its own function (best and median of `--repeat`), with the plan
of each SQL statement it runs (EXPLAIN (ANALYZE, BUFFERS)) saved under bench/results/pg_plans/:

- the domain list (`core.views.stats.domain_page`, what `GET /domains` and `webrecall domains` call): every sort key
  in both directions, each filter, a deep page;
- one domain (`core.views.stats.domain_detail` and the DomainStat row `labelling.proposals.for_domain` reads);
- a queue claim (`core.labelling.queue.claim`, then a release so the next claim finds the same item).

    .venv/bin/python bench/pg_scale.py [--rows 10000000] [--postgres-url postgresql+psycopg://user@host:port]

Without --postgres-url a PostgreSQL cluster is started in a temp dir on a free loopback port (as .ci/services.sh
does: initdb, pg_ctl, fsync off) and removed afterwards. Writes bench/results/pg_scale.json.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "results"
TARGET_MS = 200


@contextlib.contextmanager
def postgres_server(url: str | None) -> Iterator[str]:
    """A PostgreSQL server URL without a database name: the one given, or a temporary cluster."""
    if url:
        yield url.rstrip("/")
        return
    pg_bin = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
    tmp = tempfile.mkdtemp(prefix="bench-pg-")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        shutil.chown(tmp, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = f"{tmp}/data"
    subprocess.run([*as_user, f"{pg_bin}/initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True)  # fmt: skip
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {tmp} -c fsync=off"
    subprocess.run([*as_user, f"{pg_bin}/pg_ctl", "-D", data, "-o", opts, "-l", f"{tmp}/log", "-w", "start"],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, f"{pg_bin}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


# -- generated rows ------------------------------------------------------------------------------------------------


def domain_rows(round_id: int, n: int, *, seed: int = 0, chunk: int = 500_000) -> Iterator[dict[str, Any]]:
    """`n` hosts: a fifth of them on hosting platforms with Zipf-distributed host counts (the largest holds ~3.6%
    of all hosts), the rest a site each; pages
    per host from a Pareto law (most hosts 1-3 pages), a per-site code share from a beta law."""
    rng = np.random.default_rng(seed)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        idx = np.arange(start, start + m)
        platform = np.minimum(rng.zipf(1.2, m), 100_000) - 1  # hosting platforms: the largest has ~3.6% of hosts
        site_no = np.where(rng.random(m) < 0.2, platform, 100_000 + idx)  # the rest: a site of its own
        pages = np.minimum(np.floor(rng.pareto(1.2, m) + 1).astype(np.int64), 5_000_000)
        share = rng.beta(0.3, 6.0, m)
        recalled = rng.binomial(pages, share)
        fraction = recalled / pages
        chars = (pages * rng.lognormal(8.5, 1.0, m)).astype(np.int64)
        recalled_chars = (chars * (recalled / pages)).astype(np.int64)
        mean = rng.beta(1.0, 8.0, m)
        for i, s, p, r, f, c, rc, sm in zip(idx.tolist(), site_no.tolist(), pages.tolist(), recalled.tolist(),
                                             fraction.tolist(), chars.tolist(), recalled_chars.tolist(),
                                             mean.tolist(), strict=True):  # fmt: skip
            site = f"site{s}.com"
            yield {"round_id": round_id, "domain": f"h{i:08d}.{site}", "site": site, "pages": p, "recalled": r,
                   "fraction": f, "chars": c, "recalled_chars": rc, "score_mean": sm, "score_p10": sm / 2,
                   "score_p50": sm, "score_p90": min(1.0, sm * 2), "related": f > 0.1}  # fmt: skip


def queue_rows(round_id: int, n: int, done_share: float, *, seed: int = 1) -> Iterator[dict[str, Any]]:
    """Queue items over the first `n` hosts; the highest-priority `done_share` of them already labelled."""
    from webrecall.core.db import utcnow

    rng = np.random.default_rng(seed)
    priority = rng.random(n)
    cut = np.quantile(priority, 1 - done_share)
    now = utcnow()
    kinds = np.where(rng.random(n) < 0.05, "audit", "uncertain")
    for i, (p, kind) in enumerate(zip(priority.tolist(), kinds.tolist(), strict=True)):
        done = p >= cut
        yield {"round_id": round_id, "domain": f"h{i:08d}", "priority": p, "kind": kind,
               "status": "done" if done else "pending", "labeled_by": ["ann"] if done else [], "details": {},
               "reason": "uncertain", "created_at": now, "updated_at": now}  # fmt: skip


# -- timing and plans ----------------------------------------------------------------------------------------------


class Statements:
    """Records the SQL statements (with parameters) a call runs, to EXPLAIN them afterwards."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.seen: list[tuple[str, Any]] = []
        self.on = False
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if self.on and statement.lstrip().upper().startswith(("SELECT", "WITH")):
            self.seen.append((statement, params))


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return {"best_ms": round(min(times), 2), "median_ms": round(statistics.median(times), 2)}


def explain(url: str, statements: list[tuple[str, Any]]) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement, in a transaction rolled back (claims lock rows)."""
    import psycopg

    plans = []
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        for statement, params in statements:
            rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", params).fetchall()  # type: ignore[arg-type]
            plans.append("\n".join(r[0] for r in rows))
        conn.rollback()
    return plans


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--queue-done", type=float, default=0.9)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--postgres-url", default=os.environ.get("WEBRECALL_BENCH_POSTGRES_URL"))
    ap.add_argument("--out", type=Path, default=OUT / "pg_scale.json")
    args = ap.parse_args()

    import psycopg
    from sqlalchemy import func
    from sqlmodel import col, select

    from webrecall.core import db as dbm
    from webrecall.core.bulk import copy_rows, executemany_rows
    from webrecall.core.labelling import queue
    from webrecall.core.views.stats import domain_detail, domain_page

    result: dict[str, Any] = {"rows": args.rows, "load_before": os.getloadavg(), "cores": os.cpu_count()}
    plans_dir = args.out.parent / "pg_plans"
    plans_dir.mkdir(parents=True, exist_ok=True)
    with postgres_server(args.postgres_url) as server:
        name = f"bench_{uuid.uuid4().hex[:8]}"
        admin = server.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
            result["server_version"] = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
            result["shared_buffers"] = conn.execute("SHOW shared_buffers").fetchone()[0]  # type: ignore[index]
        url = f"{server}/{name}"
        dbm.migrate(url)
        with dbm.session(url) as db:
            rounds = [dbm.Round(number=1, status="done"), dbm.Round(number=2)]
            db.add_all(rounds)
            db.commit()
            rid, scratch = rounds[0].id or 0, rounds[1].id or 0

        write: dict[str, Any] = {}
        t = time.perf_counter()
        with dbm.session(url) as db:
            executemany_rows(db, dbm.DomainStat, domain_rows(scratch, 200_000, seed=9))
            db.flush()
            write["executemany_200k_s"] = round(time.perf_counter() - t, 1)
            db.rollback()
        t = time.perf_counter()
        with dbm.session(url) as db:
            copy_rows(db, dbm.DomainStat, domain_rows(scratch, 200_000, seed=9))
            write["copy_200k_s"] = round(time.perf_counter() - t, 1)
            db.rollback()
        print(f"write 200k: {write}", file=sys.stderr)
        t = time.perf_counter()
        with dbm.session(url) as db:
            write["rows"] = copy_rows(db, dbm.DomainStat, domain_rows(rid, args.rows))
            db.commit()
        write["copy_s"] = round(time.perf_counter() - t, 1)
        with dbm.session(url) as db:  # what finalize writes with the rows (the domain list counts from it)
            rnd = db.get(dbm.Round, rid)
            assert rnd is not None
            related = db.exec(select(func.count()).select_from(dbm.DomainStat)
                              .where(dbm.DomainStat.round_id == rid, col(dbm.DomainStat.related))).one()  # fmt: skip
            rnd.totals = {"domains": write["rows"], "related_domains": int(related)}
            db.add(rnd)
            db.commit()
        write["copy_rows_per_s"] = round(write["rows"] / write["copy_s"])
        print(f"write: {write}", file=sys.stderr)
        t = time.perf_counter()
        with dbm.session(url) as db:
            copy_rows(db, dbm.QueueItem, queue_rows(rid, args.rows, args.queue_done))
            copy_rows(db, dbm.Label, ({"pattern": f"h{i:08d}.site{i % 997}.com/docs/", "label": "code",
                                       "annotator": "ann", "round_id": rid, "shown": {}, "created_at": dbm.utcnow()}
                                      for i in range(0, args.rows, max(1, args.rows // 100_000))))  # fmt: skip
            db.commit()
        write["queue_and_labels_s"] = round(time.perf_counter() - t, 1)
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            sizes = conn.execute("SELECT relname, pg_relation_size(oid) FROM pg_class WHERE relname LIKE 'domainstat%' "
                                 "OR relname LIKE 'ix_domainstat%' OR relname LIKE '%queueitem%' "
                                 "ORDER BY 2 DESC").fetchall()  # fmt: skip
        result["write"] = write
        result["relation_bytes"] = dict(sizes)

        engine = dbm.get_engine(url)
        recorder = Statements(engine)
        with dbm.session(url) as db:
            big_site = db.exec(select(dbm.DomainStat.site).where(dbm.DomainStat.round_id == rid)
                               .group_by(col(dbm.DomainStat.site)).order_by(func.count().desc()).limit(1)).one()
            one = db.exec(select(dbm.DomainStat.domain).where(dbm.DomainStat.round_id == rid)
                          .order_by(col(dbm.DomainStat.domain)).offset(args.rows // 2).limit(1)).one()  # fmt: skip
        reads: dict[str, Callable[[Any], Any]] = {}
        for key in ("fraction", "recalled", "pages", "chars", "recalled_chars", "domain", "rule_distance"):
            for order in ("desc", "asc"):
                reads[f"list sort={key} {order}"] = (lambda db, k=key, o=order: domain_page(
                    db, rid, sort=k, descending=o == "desc"))  # type: ignore[misc]  # fmt: skip
        reads["list related=true"] = lambda db: domain_page(db, rid, related=True)
        reads["list related=false"] = lambda db: domain_page(db, rid, related=False)
        reads[f"list site={big_site} (largest site)"] = lambda db: domain_page(db, rid, site=big_site)
        reads["list prefix=h0000123"] = lambda db: domain_page(db, rid, prefix="h0000123")
        reads["list min_pages=100"] = lambda db: domain_page(db, rid, min_pages=100)
        reads["list min_pages=20"] = lambda db: domain_page(db, rid, min_pages=20)
        reads["list min_pages=2"] = lambda db: domain_page(db, rid, min_pages=2)
        reads["list min_pages=100 by pages asc"] = lambda db: domain_page(db, rid, min_pages=100, sort="pages",
                                                                         descending=False)  # fmt: skip
        reads["list offset=10000"] = lambda db: domain_page(db, rid, offset=10_000)
        reads["one domain"] = lambda db: (domain_detail(db, one), db.get(dbm.DomainStat, (rid, one)))

        def claim_and_release(db: Any) -> None:
            item = queue.claim(db, "bench")
            assert item is not None
            queue.release(db, item.id or 0, "bench")

        reads["queue claim"] = claim_and_release
        out: dict[str, Any] = {}
        for label, read in reads.items():
            with dbm.session(url) as db:
                read(db)  # warm: the first call of a shape pays its plan and the cache
                figures = timed(lambda r=read, d=db: r(d), args.repeat)  # type: ignore[misc]
                recorder.seen.clear()
                recorder.on = True
                read(db)
                recorder.on = False
            plans = explain(url, recorder.seen)
            slug = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
            text = "\n\n".join(f"{sql}\n{plan}" for (sql, _), plan in zip(recorder.seen, plans, strict=True))
            (plans_dir / f"{slug}.txt").write_text(text + "\n")
            out[label] = {**figures, "under_target": figures["median_ms"] < TARGET_MS, "statements": len(plans),
                          "plan": f"pg_plans/{slug}.txt"}  # fmt: skip
            print(f"{label}: {figures}", file=sys.stderr)
        result["reads"] = out
        engine.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    result["load_after"] = os.getloadavg()
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
