"""Samples keep code's shape: fenced blocks verbatim (indentation, blank lines), no fence lines, cuts marked."""

from __future__ import annotations

from webrecall.core.labelling.samples import ELLIPSIS, fenced, first_lines, sample_blocks
from webrecall.core.text.extract import FENCE

TEXT = f"""Extending Python

  Each module needs an init function.
{FENCE}
def initfunc_name(name):
    try:
        suffix = name.rsplit(".", 1)[1]

    except IndexError:
        return None
{FENCE}
{"x" * 200}
last line"""


def test_code_blocks_keep_their_indentation_and_lose_their_fences() -> None:
    assert fenced(TEXT)[1] == (True, ["def initfunc_name(name):", "    try:", '        suffix = name.rsplit(".", 1)[1]',
                                      "", "    except IndexError:", "        return None"])  # fmt: skip
    blocks = sample_blocks(TEXT)
    assert [b["code"] for b in blocks] == [False, True, False]
    assert FENCE not in "".join(first_lines(blocks))
    code = [row["text"] for row in blocks[1]["lines"]]
    assert code[1] == "    try:" and code[3] == "" and all(row["code_like"] for row in blocks[1]["lines"])
    assert blocks[0]["lines"][1]["text"] == "Each module needs an init function."  # prose: stripped


def test_every_cut_is_marked() -> None:
    blocks = sample_blocks(TEXT, width=50)
    long = blocks[2]["lines"][0]
    assert long["cut"] and len(long["text"]) == 50 and long["text"].endswith(ELLIPSIS)
    assert blocks[2]["more"] == 0  # the text ends there
    short = sample_blocks(TEXT, max_lines=4)  # two prose lines, two of the six code lines
    assert [len(b["lines"]) for b in short] == [2, 2]
    assert short[1]["more"] == 4 + 2  # the code block's four other lines and the two prose lines after it
