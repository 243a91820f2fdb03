"""The benchmarks import each other as the package ``benchmarks``: the repository root goes on
``sys.path`` (pytest runs with ``--import-mode=importlib``, which does not add it)."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
