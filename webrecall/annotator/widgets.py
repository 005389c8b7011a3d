"""Small display pieces of the pages: the pattern tree, sample cards, tables and charts."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import streamlit as st

from webrecall.core.db import QueueItem

INDENT = "\u2003"


def code(text: str) -> str:
    """Markdown for a host, a pattern or a URL: an inline code span. Streamlit's markdown turns `www.host` in plain
    text into a link (a host here is something to label, not to visit), and escapes do not stop it (its autolinker
    runs on the parsed text); a code span is never linked, shows the pattern as written (`*` and `_` included) and
    copies as it reads."""
    fence = "``" if "`" in text else "`"
    return f"{fence}{text}{fence}" if fence == "`" else f"{fence} {text} {fence}"


def title(text: str) -> None:
    """The page's heading as plain text: an HTML heading (escaped) is not markdown, so no part of it becomes a
    link, and it keeps the look of `st.title`."""
    st.markdown(f"<h1>{html.escape(text)}</h1>", unsafe_allow_html=True)


MARKS = {"code": "→ code", "non-code": "→ not code", "mixed": "→ mixed"}
NAMES = {"code": "code", "non-code": "not code", "mixed": "mixed"}


def accept_label(suggestion: dict[str, Any]) -> str:
    """The Accept key's label: the model's suggestion with its confidence."""
    return f"Accept: {NAMES[suggestion['label']]} ({suggestion['confidence']:.0%})"


def relative(view: dict[str, Any], index: int) -> str:
    """A proposal as the tree shows it: the part below its nearest proposed ancestor (`…/git-` under `…/docs/`)."""
    pattern = view["proposals"][index]["pattern"]
    above = [p["pattern"] for p in view["proposals"][:index] if pattern.startswith(p["pattern"].rstrip("*"))
             and p["pattern"] != pattern]  # fmt: skip
    return f"…/{pattern[len(above[-1]):]}" if above else pattern


def tree_label(view: dict[str, Any], decided: dict[str, str], agreed: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """Radio labels: indented by depth, relative to the parent, with the figures, this annotator's decision, or the
    one agreed before. The branch mark is glued to its name (a no-break space), so a wrapped line never leaves it
    alone."""
    agreed = agreed or {}

    def fmt(index: int) -> str:
        p = view["proposals"][index]
        if p["pattern"] in decided:
            mark = f" · {MARKS[decided[p['pattern']]]}"
        elif p["pattern"] in agreed:
            mark = f" · {MARKS[agreed[p['pattern']]]} (agreed before)"
        elif view.get("suggested") and p.get("suggestion"):
            mark = f" · model: {NAMES[p['suggestion']['label']]} {p['suggestion']['confidence']:.0%}"
        else:
            mark = ""
        branch = f"{INDENT * p['depth']}└\u00a0" if p["depth"] else ""
        return f"{branch}{code(relative(view, index))} — {pages(p['pages'])}, {p['fraction']:.0%} recalled{mark}"

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
            st.caption("Still disputed (no reviewer yet): " + ", ".join(code(p) for p in before["conflicts"]))


def in_crawl(crawl: dict[str, int] | None, pattern: str) -> str:
    """The sample's count is of the round's WARC files; the crawl's URL index counts the pattern everywhere."""
    if crawl is None or pattern not in crawl:
        return ""
    return f" in this round's sample, {pages(crawl[pattern])} across the whole crawl"


def proposal_table(view: dict[str, Any], decided: dict[str, str], agreed: dict[str, str],
                   crawl: dict[str, int] | None = None) -> None:  # fmt: skip
    """The proposals' figures side by side (patterns relative to their parent, so every column fits); with the
    crawl's URL index, each pattern's HTML pages across the whole crawl too."""
    rows = [{"pattern": relative(view, i), "pages": p["pages"],
             **({"in crawl": crawl.get(p["pattern"])} if crawl is not None else {}), "recalled": p["fraction"],
             "p10": p["score_p10"],
             "p50": p["score_p50"], "p90": p["score_p90"],
             "decision": decided.get(p["pattern"]) or (f"{agreed[p['pattern']]} (before)" if p["pattern"] in agreed
                                                       else "")}
            for i, p in enumerate(view["proposals"])]  # fmt: skip
    score = st.column_config.NumberColumn(format="%.2f", width="small")
    st.dataframe(pd.DataFrame(rows), hide_index=True, column_config={
        "pattern": st.column_config.TextColumn(width="medium"), "pages": st.column_config.NumberColumn(width="small"),
        "in crawl": st.column_config.NumberColumn(width="small", help="HTML pages across the whole crawl (its index)"),
        "recalled": st.column_config.NumberColumn(format="percent", width="small"), "p10": score, "p50": score,
        "p90": score, "decision": st.column_config.TextColumn(width="small")})  # fmt: skip


REASON_TEXT = {
    "near_threshold": "its recalled fraction is close to the related-domain threshold",
    "mid_scores": "many of its pages score in the uncertain middle",
    "disagreement": "the model's scores disagree with labels already given on its pages",
    "audit:none": "a random audit: the model recalled none of its pages (is it right to?)",
    "audit:low": "a random audit of a domain with few recalled pages",
    "audit:related": "a random audit of a domain the model counts as related",
    "gold": "a gold item: its answer is known, it measures the labelling",
    "page:uncertainty": "its score lies close to the threshold, and its site has too few pages in the sample for a "
                        "domain item",
    "page:disagreement": "the page's code structure (code-like lines, code blocks) and the model's score disagree: "
                         "one says code, the other does not",
    "page:coverage": "its language or kind of site is rare among the pages the model keeps",
    "page:audit": "a random audit of a page (is the model right about it?)",
    "page_code": "pages of this site were labelled code, yet the model recalls none of its pages",
}
REASON_TEXT["page:uncertain"] = REASON_TEXT["page:uncertainty"]  # items queued before the strategies had names
DETAIL_TEXT = {
    "pages": "pages of the domain in this round", "recalled": "pages the model kept",
    "fraction": "share of pages kept", "mid": "pages scoring in the uncertain middle",
    "mid_scores": "share of pages scoring in the uncertain middle",
    "near_threshold": "closeness of the kept share to the related-domain threshold (1 = at it)",
    "disagreement": "mean gap between scores and labels given on its pages",
    "uncertainty": "weighted sum of the three signals above", "priority": "uncertainty × log(1 + pages): queue order",
    "labeled": "pages already covered by a label", "covered": "pages matched by any label",
    "stratum": "audit group (none / low / related recalled pages)",
    "url": "the page to label", "score": "the model's score for the page",
    "domain_pages": "pages of its site in this round (too few for a domain item)",
    "audit": "chosen at random",
    "prior": "the page's code structure alone, 0-1 (code-like lines and code blocks, not the model)",
    "strategy": "what chose the page: uncertainty, disagreement, coverage or audit",
    "lang": "the page's language", "cell": "the language or kind of site the kept pages lack",
    "gap": "its share of all pages minus its share of the kept pages",
    "prior_says": "the code-structure prior's verdict", "model_says": "the model's verdict",
    "code_pages": "pages of the site labelled code",
}  # fmt: skip


def queued_because(item: QueueItem) -> str:
    return REASON_TEXT.get(item.reason, item.reason or "no reason recorded")


def why_queued(item: QueueItem) -> None:
    """The queue's reasons in one line, and its figures explained (not raw JSON)."""
    d = item.details
    st.caption(f"{d.get('recalled', 0) / max(d.get('pages', 0), 1):.0%} recalled · "
               f"{d.get('mid_scores', 0):.0%} mid-range scores · uncertainty {d.get('uncertainty', 0):.2f} · "
               f"{pages(int(d.get('pages', 0)))}")  # fmt: skip
    with st.expander("Why this domain was queued"):
        rows = [{"figure": k, "value": v, "meaning": DETAIL_TEXT.get(k, "")} for k, v in d.items()
                if isinstance(v, int | float | str) and k not in ("domain", "site")]  # fmt: skip
        st.dataframe(pd.DataFrame(rows).astype({"value": str}) if rows else pd.DataFrame(), hide_index=True)


def count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def pages(n: int) -> str:
    return count(n, "page")


def pattern_figures(seen: dict[str, Any], crawl: int | None = None) -> None:
    """A pattern's pages in a round: how many, how many recalled, and where their scores lie; with the crawl's URL
    index (`crawl`), its HTML pages across the whole crawl too (the round reads a sample of the WARC files)."""
    whole = f" ({pages(crawl)} across the whole crawl)" if crawl is not None else ""
    if not seen["pages"]:
        st.info(f"No page of the latest round matches this pattern{whole}.")
        return
    cols = st.columns(5 if crawl is not None else 4)
    cols[0].metric(f"Pages (round {seen['round']})", f"{seen['pages']:,}", help="in the round's sample of WARC files")
    cols[1].metric("Recalled", f"{seen['fraction']:.0%}", help=f"{seen['recalled']:,} of {pages(seen['pages'])}")
    cols[2].metric("Median score", f"{seen['score_p50']:.2f}")
    cols[3].metric("Scores p10–p90", f"{seen['score_p10']:.2f}–{seen['score_p90']:.2f}")
    if crawl is not None:
        cols[4].metric("In the whole crawl", f"{crawl:,}", help="HTML pages under the pattern in the crawl's URL index")
    if not seen["samples"]:
        st.caption("None of these pages has extracted text to show.")


_SNIPPET_CSS = (
    "<style>.snippet div,.snippet pre{font-size:.85rem;line-height:1.35;margin:0;white-space:pre-wrap;"
    "overflow-wrap:anywhere}.snippet .code{font-family:monospace;background:#fff3bf;border-left:3px solid #f59f00;"
    "padding-left:4px}.snippet pre.code{background:#f1f3f5;border-left-color:#868e96;tab-size:4;margin:.2rem 0}"
    ".snippet .more{color:#868e96;font-style:italic}.sample-url{font-size:.8rem;color:#6c757d;"
    "overflow-wrap:anywhere;margin-bottom:.3rem}</style>"
)


def snippet_html(blocks: list[dict[str, Any]]) -> str:
    """A sample's blocks as escaped HTML: code blocks in `<pre>` (indentation kept), prose lines with the code-like
    ones highlighted, and a mark wherever a line or a block was cut."""
    parts = []
    for block in blocks:
        lines = [html.escape(row["text"]) for row in block["lines"]]
        if block["code"]:
            parts.append(f'<pre class="code">{chr(10).join(lines)}</pre>')
        else:
            parts += [f'<div class="{"code" if row["code_like"] else "text"}">{line}</div>'
                      for row, line in zip(block["lines"], lines, strict=True)]  # fmt: skip
        if block["more"]:
            parts.append(f'<div class="more">⋯ {count(block["more"], "more line")}</div>')
    return f"{_SNIPPET_CSS}<div class='snippet'>{''.join(parts)}</div>"


def sample_card(sample: dict[str, Any]) -> None:
    """Title, score, URL (text, not a link) and the text's first lines, code blocks as code (escaped, no iframe)."""
    with st.container(border=True):
        st.html(f"<div class='sample-head'><b>{html.escape(sample['title'] or '(no title)')}</b> · score "
                f"<code>{sample['score']:.3f}</code></div><div class='sample-url'>{html.escape(sample['url'])}</div>"
                + snippet_html(sample["blocks"]))  # fmt: skip


def page_sample(page: dict[str, Any], item: QueueItem) -> None:
    """A page item's page: its URL and figures, then its text with the code blocks shown as code."""
    st.text(page["url"])
    cols = st.columns(4)
    score = "–" if page["score"] is None else f"{page['score']:.3f}"
    kept = "" if page["kept"] is None else "recalled" if page["kept"] else "not recalled"
    cols[0].metric("Score", score, help=f"round {page['round']}'s model; {kept}" if kept else None)
    cols[1].metric("Pages of its site", f"{int(item.details.get('domain_pages', 0)):,}",
                   help="in this round's sample: too few for the domain rule")  # fmt: skip
    cols[2].metric("Code blocks", f"{page['code_blocks']:,}")
    cols[3].metric("Characters", f"{page['chars']:,}")
    if not page["blocks"]:
        st.info("This page has no extracted text to show.")
        return
    with st.container(border=True):
        for block in page["blocks"]:
            if block["code"]:
                st.code(block["text"], language=None)
            else:
                st.text(block["text"])
        if page["cut"]:
            st.caption(f"The first part of the page's text ({page['chars']:,} characters in all).")


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
