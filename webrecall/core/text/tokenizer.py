"""Byte-level BPE that turns page text into space-separated tokens for fastText (DeepSeekMath/OpenCoder).

fastText splits words on whitespace, which leaves Chinese/Japanese pages as a few giant "words" and code as
punctuation soup; a BPE trained on the seed pages gives both languages and code comparable sub-word units.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from pathlib import Path

MAX_TOKENS = 1024
"""Tokens kept per text: the head of a page decides its class; the cap bounds the cost of huge pages.

Measured on CC-MAIN-DEV, host-grouped 2-fold, all predictions out of fold: the first 4,096 characters give
F1 0.915 at 1.6 ms/page (BPE + fastText) against 0.921 at 6.0 ms/page for up to 32k characters."""
_CHARS_PER_TOKEN_CAP = 4
"""Text is cut to MAX_TOKENS * this many characters before encoding, so no page costs more than that."""


class BpeTokenizer:
    """A HF `tokenizers` byte-level BPE; `pretokenize` yields one whitespace-free line per text."""

    def __init__(self, tokenizer: object, *, max_tokens: int = MAX_TOKENS) -> None:
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        vocab: dict[str, int] = tokenizer.get_vocab()  # type: ignore[attr-defined]
        self._id_to_token = [""] * (max(vocab.values(), default=-1) + 1)
        for token, i in vocab.items():
            self._id_to_token[i] = token

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        *,
        vocab_size: int = 16_000,
        min_frequency: int = 2,
        lowercase: bool = True,
        max_tokens: int = MAX_TOKENS,
    ) -> BpeTokenizer:
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

        tokenizer = Tokenizer(models.BPE())
        norms = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
        tokenizer.normalizer = normalizers.Sequence(norms)
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        limit = max_tokens * _CHARS_PER_TOKEN_CAP
        tokenizer.train_from_iterator(_clipped(texts, limit), trainer=trainer)
        return cls(tokenizer, max_tokens=max_tokens)

    def save(self, path: str | Path) -> None:
        self.tokenizer.save(str(path))  # type: ignore[attr-defined]

    @classmethod
    def load(cls, path: str | Path, *, max_tokens: int = MAX_TOKENS) -> BpeTokenizer:
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(path)), max_tokens=max_tokens)

    @functools.cached_property
    def id(self) -> str:
        """Content hash: pages tokenized by an equal tokenizer can reuse their cached token lines. Computed once (the
        tokenizer is never changed after it is built; serialising it costs ~11 ms, 2% of a later round's WARC)."""
        import hashlib

        blob = self.tokenizer.to_str()  # type: ignore[attr-defined]
        return hashlib.sha1(f"{blob}|{self.max_tokens}|{_CHARS_PER_TOKEN_CAP}".encode()).hexdigest()[:16]

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer.get_vocab_size())  # type: ignore[attr-defined]

    def tokens(self, texts: list[str]) -> list[list[str]]:
        """Token strings per text, at most `max_tokens` each (byte-level: no whitespace inside a token)."""
        limit = self.max_tokens * _CHARS_PER_TOKEN_CAP
        encodings = self.tokenizer.encode_batch_fast(  # type: ignore[attr-defined]
            [t[:limit] for t in texts], add_special_tokens=False
        )
        vocab = self._id_to_token  # ids -> strings in Python is ~6x faster than `Encoding.tokens`
        return [[vocab[i] for i in e.ids[: self.max_tokens]] for e in encodings]

    def pretokenize(self, texts: list[str]) -> list[str]:
        """Each text as one line of space-joined tokens; fastText reads a line as one example."""
        return [" ".join(toks) for toks in self.tokens(texts)]


def _clipped(texts: Iterable[str], limit: int) -> Iterator[str]:
    for text in texts:
        if text:
            yield text[:limit]
