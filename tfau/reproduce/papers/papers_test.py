import os
import re

import pytest

from tfau.reproduce.papers import PAPERS, schema

PAPERS_DIR = os.environ.get("TFAU_PAPERS_DIR", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "shared", "papers"))
# A number standing alone (not the 4 of "BP4D" or the 6 of "AU6"); brackets / bold tags around
# it are fine.
_NUMBER = re.compile(r"(?<![\w.])\d*\.?\d+(?![\w])")


def _lines_of_numbers(path):
    """The numbers of each line, plus the columns of each block of consecutive lines with the
    the same count of numbers (the ROI-GCN tables are transposed: one line per AU)."""
    with open(path, encoding="utf-8") as f:
        lines = [[float(x) for x in _NUMBER.findall(line)] for line in f]
    columns, start = [], 0
    for i in range(1, len(lines) + 1):
        if i == len(lines) or len(lines[i]) != len(lines[start]):
            block = lines[start:i]
            if i < len(lines) and len(lines[i]) == len(block[0]) - 1:
                block = [b[1:] for b in block] + [lines[i]]   # an Avg. line without the AU number
            if len(block) >= 2 and block[0]:
                columns += [list(c) for c in zip(*block)]
            start = i
    return lines + columns


def _contains(seq, sub):
    return any(all(abs(seq[i + j] - v) < 1e-9 for j, v in enumerate(sub))
               for i in range(len(seq) - len(sub) + 1))


def test_every_published_number_is_in_the_paper_text():
    """Each row's per-AU values (and Avg) appear, in order, on one line of the paper's text; an
    Avg-only row's metrics appear together on one line. Guards the transcription."""
    if not os.path.isdir(PAPERS_DIR):
        pytest.skip(f"paper texts not found at {PAPERS_DIR} (set TFAU_PAPERS_DIR)")
    checked = 0
    for name, doc in PAPERS.items():
        lines = _lines_of_numbers(os.path.join(PAPERS_DIR, doc["source"]))
        for tname, tab in doc["tables"].items():
            for r in tab["rows"]:
                published = r["published"] or {}
                per_au = {m: list(v.values()) for m, v in published.items() if len(v) > 1}
                seqs = list(per_au.values())
                avg_only = [v["avg"] for v in published.values() if len(v) == 1]
                if avg_only:
                    seqs.append(avg_only)
                for seq in seqs:
                    assert any(_contains(line, seq) for line in lines), (name, tname, r["id"], seq)
                    checked += len(seq)
    assert checked > 1000


def test_table_expands_rows_and_checks_lengths_and_claims():
    t = schema.table("Table 9: x", metrics=("f1",), dataset="d", protocol="p", folds="all",
                     aus=("AU1", "AU2"), rows=[schema.row("a", "A", "m", f1=[1, 2, 1.5]),
                                               schema.row("b", "B", f1=3.0)],
                     claims=[schema.better("a beats b", "a", "b", "f1")])
    assert t["rows"][0]["published"] == {"f1": {"AU1": 1.0, "AU2": 2.0, "avg": 1.5}}
    assert t["rows"][1]["published"] == {"f1": {"avg": 3.0}} and t["rows"][1]["method"] is None
    with pytest.raises(ValueError, match=r"Table 9, row 'a': f1 has 2 values"):
        schema.table("Table 9: x", metrics=("f1",), dataset="d", protocol="p", folds="all",
                     aus=("AU1", "AU2"), rows=[schema.row("a", "A", f1=[1, 2])])
    with pytest.raises(ValueError, match="names row 'zz'"):
        schema.table("Table 9: x", metrics=("f1",), dataset="d", protocol="p", folds="all",
                     rows=[schema.row("a", "A")], claims=[schema.better("t", "a", "zz", "f1")])
    with pytest.raises(ValueError, match="duplicate"):
        schema.table("Table 9: x", metrics=("f1",), dataset="d", protocol="p", folds="all",
                     rows=[schema.row("a", "A"), schema.row("a", "B")])


def test_issue_tables_are_all_present():
    want = {"scc_heatmap": {"1", "1_disfa", "2", "3", "fig6"},
            "g2rl": {"1", "1_bp4d", "fig6", "fig7"},
            "roi_gcn": {"1", "2", "3", "4"},
            "re_net": {"1", "2", "3", "4", "5", "6", "7", "8"}}
    assert {p: set(d["tables"]) for p, d in PAPERS.items()} == want
