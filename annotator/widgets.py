"""Small display pieces of the pages: the pattern tree, sample cards, tables and charts."""

from __future__ import annotations

import html
import re
from typing import Any

import pandas as pd
import streamlit as st

from recall.db import QueueItem

INDENT = "\u2003"
_AUTOLINK = re.compile(r"(?i)\bwww\.")


def md(text: str) -> str:
    """Text for a Streamlit markdown element (title, message, radio option) shown as written: Streamlit's markdown
    turns `www.host` into an external link, a host here is something to label, not to visit."""
    return _AUTOLINK.sub(lambda m: m.group(0)[:-1] + "\\.", text)
MARKS = {"code": "→ code", "non-code": "→ not code", "mixed": "→ mixed"}


def tree_label(view: dict[str, Any], decided: dict[str, str], agreed: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """Radio labels: indented by depth, with the figures, this annotator's decision, or the one agreed before."""
    agreed = agreed or {}

    def fmt(index: int) -> str:
        p = view["proposals"][index]
        if p["pattern"] in decided:
            mark = f" · {MARKS[decided[p['pattern']]]}"
        elif p["pattern"] in agreed:
            mark = f" · {MARKS[agreed[p['pattern']]]} (agreed before)"
        else:
            mark = ""
        return (f"{INDENT * p['depth']}{'└ ' if p['depth'] else ''}{p['pattern']} — {p['pages']} pages, "
                f"{p['fraction']:.0%} recalled{mark}")  # fmt: skip

    return fmt


def earlier_labels(before: dict[str, Any]) -> None:
    """The domain's labels from earlier rounds and the reviewers' resolutions (issue 12.13)."""
    if not before["labels"]:
        return
    n_agreed = len(before["agreed"])
    with st.expander(f"Labelled before: {len(before['labels'])} labels, {n_agreed} agreed (pre-filled below)",
                     expanded=True):  # fmt: skip
        st.dataframe(frame([{"pattern": r["pattern"], "label": r["label"], "by": r["annotator"] +
                             (" (reviewer's resolution)" if r["reviewed"] else ""), "reason": r["reason"],
                             "when": f"round {r['round']}" if r["round"] is not None else
                             "review" if r["reviewed"] else "imported"}
                            for r in before["labels"]]), hide_index=True)  # fmt: skip
        if before["conflicts"]:
            st.caption("Still disputed (no reviewer yet): " + ", ".join(before["conflicts"]))


def proposal_table(view: dict[str, Any], decided: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"pattern": p["pattern"], "pages": p["pages"], "recalled": p["fraction"],
                          "p10": p["score_p10"], "p50": p["score_p50"], "p90": p["score_p90"],
                          "decision": decided.get(p["pattern"], "")} for p in view["proposals"]])  # fmt: skip


def why_queued(item: QueueItem) -> None:
    d = item.details
    cols = st.columns(4)
    cols[0].metric("Recalled fraction", f"{d.get('recalled', 0) / max(d.get('pages', 0), 1):.0%}")
    cols[1].metric("Mid-range scores", f"{d.get('mid_scores', 0):.0%}")
    cols[2].metric("Uncertainty", f"{d.get('uncertainty', 0):.2f}")
    cols[3].metric("Pages", d.get("pages", 0))
    with st.expander("Queue details"):
        st.json(d)


def pages(n: int) -> str:
    return f"{n:,} page" if n == 1 else f"{n:,} pages"


def pattern_figures(seen: dict[str, Any]) -> None:
    """A pattern's pages in a round: how many, how many recalled, and where their scores lie."""
    if not seen["pages"]:
        st.info("No page of the latest round matches this pattern.")
        return
    cols = st.columns(4)
    cols[0].metric(f"Pages (round {seen['round']})", f"{seen['pages']:,}")
    cols[1].metric("Recalled", f"{seen['fraction']:.0%}", help=f"{seen['recalled']:,} of {pages(seen['pages'])}")
    cols[2].metric("Median score", f"{seen['score_p50']:.2f}")
    cols[3].metric("Scores p10–p90", f"{seen['score_p10']:.2f}–{seen['score_p90']:.2f}")
    if not seen["samples"]:
        st.caption("None of these pages has extracted text to show.")


def sample_card(sample: dict[str, Any]) -> None:
    """Title, URL, score and the text's first lines, code-like ones highlighted (escaped text, no iframe)."""
    with st.container(border=True):
        st.markdown(f"**{html.escape(sample['title'] or '(no title)')}** · score `{sample['score']:.3f}`")
        st.caption(sample["url"])
        lines = "".join(f'<div class="{"code" if is_code else "text"}">{html.escape(line)}</div>'
                        for line, is_code in sample["lines"])  # fmt: skip
        st.html(
            "<style>.snippet div{font-size:.85rem;line-height:1.35;white-space:pre-wrap;overflow-wrap:anywhere}"
            ".snippet .code{font-family:monospace;background:#fff3bf;border-left:3px solid #f59f00;padding-left:4px}"
            f"</style><div class='snippet'>{lines}</div>"
        )


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


METRICS = {"recalled": "Recalled pages", "related_domains": "Related domains", "precision": "Precision",
           "recall": "Recall", "f1": "F1"}  # fmt: skip


def _lines(df: pd.DataFrame, columns: list[str]) -> Any:
    """One line per figure over the rounds; rounds are categories on the axis (1, 2, 3, never 1.000000)."""
    import altair as alt

    long = df.melt(id_vars="round", value_vars=columns, var_name="figure", value_name="value").dropna()
    return alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("round:O", title="round", axis=alt.Axis(labelAngle=0)), y=alt.Y("value:Q", title=None),
        color=alt.Color("figure:N", title=None), tooltip=["round", "figure", "value"])  # fmt: skip


def growth_charts(rows: list[dict[str, Any]]) -> None:
    if not rows:
        st.info("No round yet.")
        return
    if len(rows) == 1:  # a chart of one point is an empty frame: the figures themselves
        row = rows[0]
        st.caption(f"Round {row['round']} is the only round so far; the charts start with the second round.")
        cols = st.columns(len(METRICS))
        for col, (key, name) in zip(cols, METRICS.items(), strict=True):
            value = row.get(key)
            col.metric(name, "–" if value is None else f"{value:.3f}" if isinstance(value, float) else f"{value:,}")
        return
    df = pd.DataFrame(rows)
    left, right = st.columns(2)
    with left:
        st.caption("Recalled pages and related domains per round")
        st.altair_chart(_lines(df, ["recalled", "related_domains"]))
    with right:
        st.caption("Model metrics on held-out seeds")
        st.altair_chart(_lines(df.astype({k: float for k in ("precision", "recall", "f1", "roc_auc")}),
                                ["precision", "recall", "f1", "roc_auc"]))  # fmt: skip
