"""``python -m tfau.bench``: forwards to the benchmarks in the repository's top-level
``benchmarks/`` folder (``python -m benchmarks``; see ``benchmarks/run.py``).

The benchmarks are not part of the installed package (as keras-hub keeps its own): run this from
a checkout of the repository (its root on ``sys.path``, as ``python -m`` from the root does).
"""
from __future__ import annotations

import os
import sys


def main(argv=None):
    try:
        from benchmarks.run import main as run_main
    except ModuleNotFoundError as exc:
        if exc.name != "benchmarks":
            raise
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        if not os.path.isdir(os.path.join(root, "benchmarks")):
            raise SystemExit("python -m tfau.bench: the benchmarks live in the repository's "
                             "benchmarks/ folder, not in the installed package; run "
                             "`python -m benchmarks` from a checkout of tfau") from None
        sys.path.insert(0, root)  # editable install: the checkout is right above the package
        from benchmarks.run import main as run_main
    return run_main(argv)


if __name__ == "__main__":
    main()
