"""Language reach on CC-MAIN-DEV: a tokenizer trained on the seeds alone against one that also learns a sample of the
crawl's own text, and whether the code signals carry across languages.

    .venv/bin/python bench/language_reach.py

Round 1 as the demo trains it, on pages outside the held-out slice (`core.evaluation.generalise.held_out`: the hosts
in the first 0.2 of the plain host hash and every hand-judged page): positives the pages of the seed patterns, as
many random other pages as negatives. Tokenizer "seeds": trained on that training set (as before); "crawl": the
same plus a seeded sample of every page outside the slice (as a round now trains it, `bpe_crawl_sample`). Reported:
the share of non-Latin letters of DEV's pages that their tokenizer leaves as single-character (or sub-character,
byte) tokens, and the scores of the held-out non-English documentation (and its English originals) under each.
Then the code signals of the held-out documentation pages in each language (`features.tokens`), against English.
Writes bench/results/language_reach.json. Not timed.
"""

from __future__ import annotations

import json
import random
import sys
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from webrecall.cli.demo import DEMO_SEEDS  # noqa: E402
from webrecall.core.evaluation.generalise import held_out, load_pages  # noqa: E402
from webrecall.core.model.classifier import Classifier  # noqa: E402
from webrecall.core.settings import Settings  # noqa: E402
from webrecall.core.text.features import spec, split_signals, tokens  # noqa: E402
from webrecall.core.text.tokenizer import BpeTokenizer  # noqa: E402
from webrecall.core.urls.patterns import PatternSet  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
RESULTS = ROOT / "bench" / "results" / "language_reach.json"


def non_latin(ch: str) -> bool:
    return ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN")


def single_char_share(tok: BpeTokenizer, texts: list[str]) -> tuple[int, int]:
    """(non-Latin letters inside a token that spans at most one character, non-Latin letters) over `texts`."""
    single = total = 0
    limit = tok.max_tokens * 4
    for text in texts:
        text = text[:limit]
        enc = tok.tokenizer.encode(text, add_special_tokens=False)  # type: ignore[attr-defined]
        short = np.zeros(len(text) + 1, dtype=bool)
        covered = np.zeros(len(text) + 1, dtype=bool)
        for start, end in enc.offsets[: tok.max_tokens]:
            covered[start:end] = True
            if end - start <= 1:
                short[start:end] = True
        for i, ch in enumerate(text):
            if covered[i] and non_latin(ch):
                total += 1
                single += bool(short[i])
    return single, total


def main() -> None:
    settings = Settings()
    rows = load_pages(ROOT.parent / "shared" / "corpus", "CC-MAIN-DEV", CACHE)
    seeds: PatternSet[str] = PatternSet()
    for p in DEMO_SEEDS:
        seeds.add(p, "code")
    train_pool = [r for r in rows if not held_out(r)]
    pos = [r for r in train_pool if seeds.matches(r["url"])]
    others = [r for r in train_pool if not seeds.matches(r["url"])]
    rng = random.Random(0)
    neg = rng.sample(others, min(len(pos), len(others)))
    texts, labels = [r["text"] for r in pos + neg], [True] * len(pos) + [False] * len(neg)
    sample = [split_signals(r["text"])[1] for r in rng.sample(train_pool, min(settings.bpe_crawl_sample,
                                                                               len(train_pool)))]  # fmt: skip
    plain = [split_signals(t)[1] for t in texts]
    tokenizers = {
        "seeds": BpeTokenizer.train(plain, vocab_size=settings.bpe_vocab_size),
        "crawl": BpeTokenizer.train(plain + sample, vocab_size=settings.bpe_vocab_size),
    }
    held_docs = [r for r in rows if held_out(r) and r["kind"] == "docs"]
    foreign = [r for r in held_docs if r.get("lang") not in ("en", None)]
    english = [r for r in held_docs if r.get("lang") == "en" and r["host"] in {f["host"] for f in foreign}]
    scripts = [r["text"] for r in rows if sum(map(non_latin, r["text"][:4096])) >= 50]
    out: dict[str, Any] = {"train": {"positives": len(pos), "negatives": len(neg), "crawl_sample": len(sample)},
                           "non_latin_pages": len(scripts), "heldout_non_english_docs": len(foreign)}  # fmt: skip
    for name, tok in tokenizers.items():
        single, total = single_char_share(tok, scripts)
        clf = Classifier.train(texts, labels, params=settings.ft, vocab_size=settings.bpe_vocab_size, version=name,
                               tokenizer=tok, signals=spec(settings.code_signal_repeat))  # fmt: skip
        s_foreign = clf.score([r["text"] for r in foreign])
        s_english = clf.score([r["text"] for r in english])
        by_lang: dict[str, list[float]] = defaultdict(list)
        for r, s in zip(foreign, s_foreign, strict=True):
            by_lang[r["lang"]].append(float(s))
        out[name] = {
            "non_latin_single_char_share": round(single / total, 4) if total else None,
            "non_latin_letters": total,
            "non_english_docs_mean_score": round(float(s_foreign.mean()), 4),
            "non_english_docs_at_0.5": [int((s_foreign >= 0.5).sum()), len(foreign)],
            "english_originals_mean_score": round(float(s_english.mean()), 4),
            "english_originals_at_0.5": [int((s_english >= 0.5).sum()), len(english)],
            "by_lang": {k: {"pages": len(v), "mean": round(float(np.mean(v)), 4),
                            "at_0.5": int(sum(x >= 0.5 for x in v))} for k, v in sorted(by_lang.items())},
        }  # fmt: skip
        print(name, json.dumps(out[name]), flush=True)
    # the code signals per language of the held-out documentation: share of pages with each token, against English
    signal_share: dict[str, Counter[str]] = defaultdict(Counter)
    pages: Counter[str] = Counter()
    for r in held_docs:
        if r["host"] not in {f["host"] for f in foreign}:
            continue
        sig, text = split_signals(r["text"])
        pages[r["lang"]] += 1
        signal_share[r["lang"]].update(set(tokens(sig, text)))
    en = {k: v / pages["en"] for k, v in signal_share["en"].items()}
    out["signals"] = {}
    for lang in sorted(pages):
        share = {k: v / pages[lang] for k, v in signal_share[lang].items()}
        keys = set(en) | set(share)
        # total variation distance between the token-presence profiles, halved per token: 0 = the same signals
        distance = sum(abs(en.get(k, 0.0) - share.get(k, 0.0)) for k in keys) / max(len(keys), 1)
        out["signals"][lang] = {"pages": pages[lang], "mean_abs_diff_vs_en": round(distance, 4),
                                "top": dict(Counter(share).most_common(8))}  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2, ensure_ascii=False), encoding="utf-8")
    print(json.dumps({k: v for k, v in out.items() if k != "signals"}, indent=1))
    print(json.dumps({k: v["mean_abs_diff_vs_en"] for k, v in out["signals"].items()}))


if __name__ == "__main__":
    main()
