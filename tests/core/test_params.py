"""A round's recorded params, typed: old rows read as they were meant, and nothing comes from the live settings."""

from __future__ import annotations

import pytest

from webrecall.core import params
from webrecall.core.db import Round
from webrecall.core.settings import DecontamConfig, DedupConfig, Settings

OLD_ROW = {  # what create_round wrote before the params were typed (no top_k_floor, decontam inside dedup)
    "seed_patterns": ["docs.python.org/"], "seed_file": None, "seed_texts": 0, "eval_labels": None, "limit": 2,
    "sample": None, "ft": {"dim": 16, "lr": 0.5}, "score_extractor": "resiliparse", "text_extractor": "trafilatura",
    "cascade_margin": 0.05, "labels_needed": 2,
    "dedup": {"ngram": 4, "num_perm": 112, "bands": 14, "rows": 8, "threshold": 0.8, "partitions": 3,
              "backend": "datasketch", "benchmarks": ["humaneval", "mine=/x.jsonl"], "decontam_ngram": 11},
}  # fmt: skip


def test_an_old_row_reads_as_recorded_and_the_live_settings_never_fill_in(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"WEBRECALL_TOP_K_FLOOR": "0.33", "WEBRECALL_FT_EPOCH": "9", "WEBRECALL_DEDUP_NGRAM": "9",
                        "WEBRECALL_DECONTAM_NGRAM": "5", "WEBRECALL_CASCADE_MARGIN": "0.4"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    p = params.of(Round(number=1, params=OLD_ROW))
    assert (p.seed_patterns, p.limit, p.labels_needed, p.text_extractor, p.cascade_margin) == (
        ["docs.python.org/"], 2, 2, "trafilatura", 0.05)
    assert (p.ft.dim, p.ft.lr, p.ft.epoch) == (16, 0.5, 3)  # recorded, then the defaults (not WEBRECALL_FT_EPOCH)
    assert p.top_k_floor == 0.1  # the setting's default, not the environment's 0.33
    assert p.dedup == DedupConfig(ngram=4, threshold=0.8, partitions=3, backend="datasketch")
    assert p.decontam == DecontamConfig(benchmarks=["humaneval", "mine=/x.jsonl"], ngram=11)


def test_a_value_of_the_wrong_type_reads_as_its_default_and_the_rest_stays() -> None:
    p = params.of(Round(number=1, params={"labels_needed": "many", "limit": 4, "future_key": {"a": 1}}))
    assert (p.labels_needed, p.limit) == (1, 4)
    assert p.as_json()["future_key"] == {"a": 1}  # a newer version's key survives a rewrite


def test_an_update_is_validated_and_keeps_the_other_values() -> None:
    rnd = Round(number=1, params=OLD_ROW)
    rnd.params = params.updated(rnd, threshold_requested=0.5)
    assert params.of(rnd).threshold_requested == 0.5 and params.of(rnd).dedup.partitions == 3
    with pytest.raises(ValueError, match="labels_needed"):
        params.updated(rnd, labels_needed="many")


def test_the_settings_read_the_nested_configs_from_their_flat_environment_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBRECALL_DEDUP_PARTITIONS", "3")
    monkeypatch.setenv("WEBRECALL_DEDUP_BACKEND", "datasketch")
    monkeypatch.setenv("WEBRECALL_DECONTAM_BENCHMARKS", "humaneval, mbpp=/data/mbpp.jsonl")
    monkeypatch.setenv("WEBRECALL_FT_DIM", "32")
    s = Settings()
    assert (s.dedup.partitions, s.dedup.backend, s.dedup.ngram) == (3, "datasketch", 5)
    assert s.decontam.benchmarks == ["humaneval", "mbpp=/data/mbpp.jsonl"] and s.ft.dim == 32
    monkeypatch.setenv("WEBRECALL_DEDUP_BANDS", "20")  # 20 bands of 8 need 160 permutations
    with pytest.raises(ValueError, match="need 160 permutations"):
        Settings()
