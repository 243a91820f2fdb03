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


def awaiting(output: str, seeds: int, seconds_per_training: Optional[float] = None) -> str:
    """Markdown list of the tables tfau can train that have no finished run in ``output``: their
    runnable rows, the rows waiting for a switch, and (given the measured seconds per training
    of this machine) the estimated time of a run with ``seeds`` seeds."""
    lines = []
    for paper, doc in PAPERS.items():
        for table, spec in doc["tables"].items():
            folder = os.path.join(output, f"{paper}_table{table}")
            if not any(r["method"] for r in spec["rows"]) or (os.path.isdir(folder) and any(
                    r.get("ours") for r in study.collect(paper, table, folder, seeds)["rows"])):
                continue
            runnable = [r["id"] for r in spec["rows"] if study.row_status(r) is None]
            waiting = [r["id"] for r in spec["rows"] if r["method"] and r["id"] not in runnable]
            line = f"- {paper} {table}: {len(runnable)} runnable row(s)"
            if waiting:
                line += f" ({', '.join(waiting)} not runnable yet)"
            if seconds_per_training and runnable:
                t = len(runnable) * seeds * seconds_per_training
                line += f"; about {study._fmt_time(t)} for {seeds} seeds at this preset"
            lines.append(line)
    return "\n".join(lines)


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
    p.add_argument("--awaiting", type=float, default=None, metavar="SECONDS_PER_TRAINING",
                   help="list the tables without a run instead, with the time a run "
                        "would take at this many seconds per training")
    args = p.parse_args(argv)
    if args.awaiting is not None:
        print(awaiting(args.output, args.seeds, args.awaiting))
        return 0
    wall = dict(w.split("=", 1) for w in args.wall)
    print(summarize(args.output, args.seeds, args.plots, wall))
    return 0


if __name__ == "__main__":
    sys.exit(main())
