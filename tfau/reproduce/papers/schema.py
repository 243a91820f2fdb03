"""The compact form of the papers' results data, and the one helper that expands it.

A paper file (``tfau/reproduce/papers/<paper>.py``) writes each table as::

    table("Table 3: ...", metrics=("f1",), dataset="bp4d", protocol="bp4d_occurrence",
          folds="all", aus=BP4D_OCC, rows=[
              row("heatmap", "Heatmap", "roi_gcn", options={...},
                  f1=[55.2, 47.8, ..., 62.0]),        # one value per AU of ``aus``, then Avg
              row("jpml", "JPML [10]", f1=45.9),      # the Avg only (no method: reference row)
          ], claims=[better(...), flat(...)])

and ``table`` expands it into the dict form ``tfau.reproduce.study`` reads:

* table: ``title`` (the paper's caption), ``metrics``, ``dataset``, ``protocol``, ``folds``,
  ``aus``, ``rows``, ``claims`` (+ ``sweep`` for a sensitivity figure, + free extra facts).
* row: ``id`` (stable: names the run folder), ``label`` (the paper's setting name), ``method``
  (model / recipe registry name; None for a reference row of a method tfau does not implement),
  ``options`` (``--model_option`` values), ``recipe_fields`` (recipe fields such as
  ``heatmap_sigma``), ``published`` ({metric: {AU or "avg": value}}, None where the paper gives no
  number), ``approximate`` (read off a plot, or an assignment the text leaves open),
  ``sweep_value`` and ``pending`` (a switch the row needs that tfau lacks, reported as "not
  runnable yet: <pending>"). Whether ``options`` / ``recipe_fields`` exist is checked against the
  models and recipes at run time (``tfau.reproduce.study.missing_switches``).

Claims: ``better`` (row ``a`` above row ``b`` on ``metric``; for MAE lower is better),
``not_better`` and ``flat`` (no row differs from another beyond the seed intervals).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

def row(id: str, label: str, method: Optional[str] = None, *, options=None, recipe_fields=None,
        flags: Sequence[str] = (), approximate: bool = False, sweep_value=None,
        pending: Optional[str] = None, **published) -> Dict[str, Any]:
    """A compact row: ``published`` is ``metric=[v_AU1, ..., v_AUn, avg]`` or ``metric=avg``."""
    return {"id": id, "label": label, "method": method, "options": dict(options or {}),
            "recipe_fields": dict(recipe_fields or {}), "flags": list(flags),
            "approximate": approximate,
            "sweep_value": sweep_value, "pending": pending, "_published": published}


def better(text: str, a: str, b: str, metric: str) -> Dict[str, Any]:
    return {"text": text, "kind": "better", "a": a, "b": b, "metric": metric}


def not_better(text: str, a: str, b: str, metric: str) -> Dict[str, Any]:
    return {"text": text, "kind": "not_better", "a": a, "b": b, "metric": metric}


def flat(text: str, rows: Sequence[str], metric: str) -> Dict[str, Any]:
    return {"text": text, "kind": "flat", "rows": list(rows), "metric": metric}


def _expand_values(where: str, metric: str, values, aus: Sequence[str]) -> Dict[str, float]:
    if isinstance(values, (int, float)):
        return {"avg": float(values)}
    values = list(values)
    if len(values) != len(aus) + 1:
        raise ValueError(f"{where}: {metric} has {len(values)} values; the table's AUs "
                         f"{list(aus)} and the average need {len(aus) + 1}")
    return {au: float(v) for au, v in zip(list(aus) + ["avg"], values)}


def table(title: str, *, metrics: Sequence[str], dataset: str, protocol: str, folds: str,
          rows: List[Dict[str, Any]], aus: Sequence[str] = (), claims=(),
          **extra) -> Dict[str, Any]:
    """Expands compact rows (``row``) into the dict form; checks ids, metrics and claims."""
    out_rows = []
    for r in rows:
        where = f"{title.split(':')[0]}, row {r['id']!r}"
        published = {}
        for metric, values in r["_published"].items():
            if metric not in metrics:
                raise ValueError(f"{where}: metric {metric!r} is not one of {list(metrics)}")
            published[metric] = _expand_values(where, metric, values, aus)
        expanded = {k: v for k, v in r.items() if k != "_published"}
        expanded["published"] = published or None
        out_rows.append(expanded)
    ids = [r["id"] for r in out_rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{title.split(':')[0]}: duplicate row ids {ids}")
    for c in claims:
        for rid in [c.get("a"), c.get("b")] + list(c.get("rows", [])):
            if rid is not None and rid not in ids:
                raise ValueError(f"{title.split(':')[0]}: claim {c['text']!r} names row {rid!r}")
    return {"title": title, "metrics": list(metrics), "dataset": dataset, "protocol": protocol,
            "folds": folds, "aus": list(aus), "rows": out_rows, "claims": list(claims), **extra}


def paper(citation: str, source: str, tables: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """A paper: its citation, the text file the numbers were copied from, its tables."""
    return {"paper": citation, "source": source, "tables": tables}
