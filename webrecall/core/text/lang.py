"""The language of a page's text: resiliparse's fast detector, and script counts where it has no answer (CJK)."""

from __future__ import annotations

import re

_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")


def guess_lang(text: str) -> str:
    """ISO 639-1 code, or '' when unknown. resiliparse for alphabetic scripts; script counts for CJK."""
    sample = text[:2000]
    if not sample.strip():
        return ""
    from resiliparse.parse.lang import detect_fast

    lang, _ = detect_fast(sample)
    if lang != "unknown":
        return lang
    if _KANA.search(sample):
        return "ja"
    if _HANGUL.search(sample):
        return "ko"
    if _HAN.search(sample):
        return "zh"
    return ""
