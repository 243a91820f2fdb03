"""Collects the reports of a study folder into one Markdown page (RESULTS.md) and copies the plots.

    python -m tfau.reproduce.summary --output reproduce --markdown RESULTS.md --plots docs/results
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import Dict, List, Optional

from tfau.reproduce import study
from tfau.reproduce.papers import PAPERS


def summarize(output: str, seeds: int, plots_dir: Optional[str] = None,
              wall: Optional[Dict[str, str]] = None) -> str:
    """Markdown of every table of ``output`` that has at least one finished run."""
    parts: List[str] = []
    verdicts: List[str] = []
    for paper in PAPERS:
        for table in PAPERS[paper]["tables"]:
            folder = os.path.join(output, f"{paper}_table{table}")
            if not os.path.isdir(folder):
                continue
            report = study.collect(paper, table, folder, seeds)
            if not any(r.get("ours") for r in report["rows"]):
                continue
            study.write_report(report, folder)
            md = study.render_markdown(report).replace("# ", "## ", 1)
            md = md.replace("\n## ", "\n### ")
            key = f"{paper} {table}"
            if wall and key in wall:
                md += f"\nWall time of this study: {wall[key]}.\n"
            for path in report.get("plots", []):
                if plots_dir:
                    os.makedirs(plots_dir, exist_ok=True)
                    dst = os.path.join(plots_dir, os.path.basename(path))
                    shutil.copyfile(path, dst)
                    md += f"\n![{os.path.basename(path)}]({dst})\n"
            parts.append(md)
            verdicts += [f"| {paper} {table} | {c['text']} | {c['verdict']} |"
                         for c in report["claims"]]
    head = ["| table | claim | verdict |", "|---|---|---|"] + verdicts
    return "\n".join(head) + "\n\n" + "\n".join(parts)


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--output", required=True)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--plots", default=None)
    p.add_argument("--wall", action="append", default=[], metavar="'PAPER TABLE=TIME'")
    args = p.parse_args(argv)
    wall = dict(w.split("=", 1) for w in args.wall)
    print(summarize(args.output, args.seeds, args.plots, wall))
    return 0


if __name__ == "__main__":
    sys.exit(main())
