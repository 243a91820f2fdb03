"""Runs every runnable row of a paper table over N seeds and the table's folds through the
trainer, and writes the report (Markdown + JSON + PNG) with the published numbers and the claim
verdicts. A row is runnable when its model has every option the row sets and its recipe every
field (``missing_switches``); the others are reported as "not runnable yet: <switch>".

Layout of a study folder: ``<output>/<paper>_table<T>/<row id>/seed<S>/fold<F>/`` is the trainer's
run folder of one row, seed and fold; its ``results.json`` marks it finished (a rerun reuses it),
and an interrupted run resumes from the trainer's own backup in that folder.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from tfau.reproduce.papers import PAPERS

LOWER_IS_BETTER = ("mae",)
# Below these averages a row has not learned (ICC 0 = no agreement, F1 0 = never predicts an AU);
# a claim between two such rows is inconclusive: the preset is too small to separate them.
CHANCE_LEVEL = {"icc": 0.05, "f1": 5.0}
CHANCE_NOTE = "rows at chance level (the preset did not learn): too small to separate them"
FAILED_JSON = "failed.json"   # in a seed's folder: the error of its last training, if it raised
# Study presets sized for the reproduction study on a 2-core CPU (RESULTS.md): the recipe's tiny
# preset with more data, one fold.
#   study   384 training / 256 test frames, 3 epochs (72 steps): enough for the occurrence models
#           to move off chance, not for the heatmap models (they predict a constant).
#   fold64  the whole training fold (2,560 frames) and the whole test fold, 6 epochs (960 steps):
#           the smallest size at which the heatmap models learn here (G2RL reaches ICC 0.20 after
#           4 epochs, 55 s on 2 quiet cores), so the heatmap claims can be judged.
STUDY_PRESETS = {
    "study": dict(epochs=3, batch_size=16, image_size=64, width=0.125, max_train_examples=384,
                  max_test_examples=256, folds="1"),
    "fold64": dict(epochs=6, batch_size=16, image_size=64, width=0.125, max_train_examples=None,
                   max_test_examples=None, folds="1"),
}


# The synthetic_au configs (datasets/synthetic_au: one per protocol); a table whose protocol has one
# trains on it, the others on the recipe's default synthetic config.
SYNTHETIC_PROTOCOLS = ("disfa_intensity", "bp4d_intensity", "bp4d_occurrence", "disfa_occurrence")


class NotRunnable(Exception):
    """A row whose switch tfau does not offer yet."""


def get_table(paper: str, table: str) -> Dict[str, Any]:
    if paper not in PAPERS:
        raise SystemExit(f"unknown paper {paper!r}; known: {sorted(PAPERS)}")
    tables = PAPERS[paper]["tables"]
    key = str(table).lower().replace("table", "").strip()
    if key not in tables:
        raise SystemExit(f"{paper} has no table {table!r}; tables: {sorted(tables)}")
    return tables[key]


def missing_switches(row: Dict[str, Any]) -> List[str]:
    """The switches ``row`` needs that tfau lacks: its ``pending`` note, model options its
    model's constructor does not take (``--model_option``), recipe fields its recipe lacks."""
    from tfau.models import model_class
    from tfau.recipes import get_recipe

    out = [row["pending"]] if row.get("pending") else []
    method = row["method"]
    defaults = model_class(method).option_defaults()
    out += [f"--model_option {key} ({method} has no option {key!r} yet)"
            for key in (row.get("options") or {}) if key not in defaults]
    fields = {f.name for f in dataclasses.fields(get_recipe(method))}
    out += [f"recipe field {key} (the {method} recipe has no {key!r} yet)"
            for key in (row.get("recipe_fields") or {}) if key not in fields]
    return out


def row_status(row: Dict[str, Any]) -> Optional[str]:
    """None for a row tfau can train; otherwise why not ("reference ..." / "not runnable yet")."""
    if not row.get("method"):
        return "reference (not implemented in tfau)"
    missing = missing_switches(row)
    return "not runnable yet: " + "; ".join(missing) if missing else None


def _row_recipe(row: Dict[str, Any], preset: Optional[str]):
    """The row's recipe: its model options and recipe fields set, the study presets added."""
    from tfau.recipes import get_recipe

    recipe = get_recipe(row["method"])
    options = dict(recipe.model_options)
    options.update(row.get("options") or {})
    changes: Dict[str, Any] = {"model_options": options, **(row.get("recipe_fields") or {})}
    if preset in STUDY_PRESETS:
        presets = dict(recipe.presets)
        presets[preset] = dataclasses.replace(recipe.presets["tiny"], **STUDY_PRESETS[preset])
        changes["presets"] = presets
    elif preset is not None and preset not in recipe.presets:
        raise SystemExit(f"--preset {preset!r}: {recipe.method} has presets "
                         f"{sorted(recipe.presets) + sorted(STUDY_PRESETS)}")
    return dataclasses.replace(recipe, **changes)


def _config_and_folds(spec: Dict[str, Any], recipe, dataset: str, preset: Optional[str]):
    """(``--config`` or None, fold list): the table's protocol and folds on the licensed data;
    on synthetic_au the protocol's synthetic config (when there is one) and the preset's folds."""
    from tfau import folds as folds_lib

    protocol = spec["protocol"]
    if dataset == "synthetic_au":
        p = recipe.presets[preset or recipe.default_preset(dataset)]
        config = protocol + p.config_suffix if protocol in SYNTHETIC_PROTOCOLS else None
        return config, folds_lib.fold_list(p.folds_for(dataset, protocol))
    if not protocol.startswith(dataset + "_"):
        raise SystemExit(f"--dataset {dataset}: table protocol {protocol!r} is on "
                         f"{spec['dataset']}")
    return protocol[len(dataset) + 1:], folds_lib.fold_list(spec["folds"])


def _fmt_time(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _fold_dir(run_dir: str, fold: int) -> str:
    return os.path.join(run_dir, f"fold{fold}" if fold else "fera")


def run_study(paper: str, table: str, output: str, dataset: str = "synthetic_au",
              preset: Optional[str] = None, seeds: int = 3, max_runs: Optional[int] = None,
              log=print, config: Optional[str] = None, data_dir: Optional[str] = None
              ) -> Dict[str, Any]:
    """Trains every runnable row x seed x fold not finished yet in ``output``; returns the report.

    Layout: ``<output>/<paper>_table<T>/<row>/seed<S>/fold<F>/`` is the trainer's run folder of
    one fold (its ``results.json`` marks it finished; an interrupted one resumes from the
    trainer's backup there); ``seed<S>/results.json``, the mean over the folds as the papers
    average them, marks the seed finished. ``config`` overrides the dataset config (a custom
    synthetic one; the table's protocol otherwise), ``data_dir`` is the TFDS folder.
    ``max_runs`` stops after that many new fold trainings (an interruption, for tests)."""
    from tfau import runs as runs_lib
    from tfau import training

    spec = get_table(paper, table)
    folder = os.path.join(output, f"{paper}_table{table}")
    os.makedirs(folder, exist_ok=True)
    jobs = []   # (row, recipe, seed, fold, config) for every runnable row
    for row in spec["rows"]:
        status = row_status(row)
        if status is not None:
            if row.get("method"):
                log(f"[reproduce] {paper} table {table}: row {row['id']} {status}")
            continue
        recipe = _row_recipe(row, preset)
        row_config, folds = _config_and_folds(spec, recipe, dataset, preset)
        jobs += [(row, recipe, s, f, config or row_config) for s in range(seeds) for f in folds]
    rows = list(dict.fromkeys(j[0]["id"] for j in jobs))
    times: List[float] = []
    failures: List[str] = []   # "<row> seed <S>: <error>" of trainings that raised
    started = 0
    t_study = time.time()
    for i, (row, recipe, seed, fold, config) in enumerate(jobs):
        run_dir = os.path.join(folder, row["id"], f"seed{seed}")
        fold_dir = _fold_dir(run_dir, fold)
        where = f"row {row['id']} ({rows.index(row['id']) + 1}/{len(rows)}), " \
                f"fold {fold or 'fera'}, seed {seed + 1}/{seeds}"
        if os.path.exists(os.path.join(run_dir, runs_lib.RESULTS_JSON)) or \
                os.path.exists(os.path.join(fold_dir, runs_lib.RESULTS_JSON)):
            log(f"[reproduce] {paper} table {table}: {where} finished, reused")
            _finish_seed(run_dir, [f for (r, _, s, f, _) in jobs if r is row and s == seed])
            continue
        if max_runs is not None and started >= max_runs:
            log("[reproduce] stopping (max_runs reached); rerun with the same --output to resume")
            return {"stopped": True}
        left = len(jobs) - i
        eta = (f", about {_fmt_time(np.mean(times) * left)} left at {_fmt_time(np.mean(times))} "
               f"per run" if times else "")
        log(f"[reproduce] {paper} table {table}: {where}; {left} of {len(jobs)} run(s) "
            f"left{eta}", flush=True)
        argv = ["--dataset", dataset, "--seed", str(seed), "--output_dir", fold_dir,
                "--no_export", "--verbose", "0", "--fold", "fera" if fold == 0 else str(fold)]
        argv += list(row.get("flags") or ())
        if config:
            argv += ["--config", config]
        if data_dir:
            argv += ["--data_dir", data_dir]
        if preset:
            argv += ["--preset", preset]
        t0 = time.time()
        failed_file = os.path.join(run_dir, FAILED_JSON)
        if os.path.exists(failed_file):
            os.remove(failed_file)   # a rerun retries a failed training
        try:
            training.main(recipe, argv)
        except Exception as e:  # noqa: BLE001 - one row that cannot train must not stop the study
            message = f"{type(e).__name__}: {str(e).strip()[:300]}"
            log(f"[reproduce] {paper} table {table}: {where} FAILED ({message}); going on with "
                f"the next run", flush=True)
            os.makedirs(run_dir, exist_ok=True)
            with open(failed_file, "w") as f:
                json.dump({"fold": fold, "seed": seed, "error": message}, f)
            failures.append(f"{row['id']} seed {seed + 1}: {message}")
            continue
        times.append(time.time() - t0)
        started += 1
        _finish_seed(run_dir, [f for (r, _, s, f, _) in jobs if r is row and s == seed])
    report = collect(paper, table, folder, seeds)
    report["failures"] = failures
    report["wall_seconds_this_call"] = round(time.time() - t_study, 1)
    write_report(report, folder)
    log(f"[reproduce] report: {os.path.join(folder, 'report.md')}")
    if failures:
        log(f"[reproduce] {paper} table {table}: {len(failures)} training(s) failed (in the "
            f"report; rerun with the same --output to retry them): " + "; ".join(failures))
    return report


def _finish_seed(run_dir: str, folds: Sequence[int]) -> None:
    """Once every fold of a seed has its results, the seed's results.json: their mean."""
    from tfau import runs as runs_lib

    paths = [os.path.join(_fold_dir(run_dir, f), runs_lib.RESULTS_JSON) for f in folds]
    if os.path.exists(os.path.join(run_dir, runs_lib.RESULTS_JSON)) or \
            not all(os.path.exists(p) for p in paths):
        return
    per_fold = [runs_lib.read_results(p) for p in paths]
    mean = (per_fold[0]["results"] if len(per_fold) == 1
            else runs_lib.average_results([r["results"] for r in per_fold]))
    tmp = os.path.join(run_dir, runs_lib.RESULTS_JSON + ".tmp")
    with open(tmp, "w") as f:
        json.dump({"title": f"mean of folds {list(folds)}", "folds": list(folds),
                   "results": mean}, f, indent=1, default=lambda o: None)
    os.replace(tmp, os.path.join(run_dir, runs_lib.RESULTS_JSON))


def _failures(row_dir: str, seeds: int) -> List[str]:
    """``"seed <S>: <error>"`` of the seeds whose last training raised (``failed.json``),
    one line per distinct error."""
    out: Dict[str, List[int]] = {}
    for s in range(seeds):
        path = os.path.join(row_dir, f"seed{s}", FAILED_JSON)
        if os.path.exists(path):
            with open(path) as f:
                out.setdefault(json.load(f)["error"], []).append(s + 1)
    return [f"seed {', '.join(map(str, v))}: {k}" for k, v in out.items()]


def _load(run_dir: str) -> Optional[Dict[str, Any]]:
    path = os.path.join(run_dir, "results.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        doc = json.load(f)
    return doc.get("results", doc)


def interval(values: Sequence[float]):
    """Mean and half-width of the 95% t interval (nan half-width for one value)."""
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], float)
    if len(v) == 0:
        return math.nan, math.nan, 0
    if len(v) == 1:
        return float(v[0]), math.nan, 1
    from scipy import stats

    half = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return float(v.mean()), half, len(v)


def collect(paper: str, table: str, folder: str, seeds: int) -> Dict[str, Any]:
    spec = get_table(paper, table)
    out_rows = []
    for row in spec["rows"]:
        entry = {"id": row["id"], "label": row["label"], "method": row.get("method"),
                 "options": row.get("options", {}), "published": row.get("published"),
                 "approximate": row.get("approximate", False),
                 "sweep_value": row.get("sweep_value")}
        status = row_status(row)
        if status is not None:
            entry["status"] = status
        else:
            per_seed = [_load(os.path.join(folder, row["id"], f"seed{s}")) for s in range(seeds)]
            per_seed = [r for r in per_seed if r]
            entry["status"] = f"{len(per_seed)}/{seeds} seed(s)"
            errors = _failures(os.path.join(folder, row["id"]), seeds)
            if errors:
                entry["status"] += "; failed: " + "; ".join(errors)
            ours: Dict[str, Any] = {}
            for metric in spec["metrics"]:
                if not per_seed or metric not in per_seed[0]:
                    continue
                scale = 100.0 if metric == "f1" else 1.0  # the papers print F1 in percent
                aus = [k for k in per_seed[0][metric] if k != "per_fold_avg"]
                ours[metric] = {}
                for au in aus:
                    vals = [scale * float(r[metric][au]) if r[metric].get(au) is not None
                            else math.nan for r in per_seed]
                    m, h, n = interval(vals)
                    ours[metric][au] = {"mean": m, "ci95": h, "n": n, "seeds": vals}
            entry["ours"] = ours
        out_rows.append(entry)
    report = {"paper": paper, "table": table, "title": spec["title"], "metrics": spec["metrics"],
              "published_dataset": spec["dataset"], "rows": out_rows, "seeds": seeds,
              "sweep": spec.get("sweep")}
    report["claims"] = judge_claims(spec, out_rows)
    return report


def judge_claims(spec: Dict[str, Any], rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """held / not held / inconclusive from the seed intervals of the rows' average."""
    by_id = {r["id"]: r for r in rows}

    def avg(rid, metric):
        r = by_id.get(rid) or {}
        a = ((r.get("ours") or {}).get(metric) or {}).get("avg")
        return None if a is None else (a["mean"], a["ci95"], a["n"], a["seeds"])

    out = []
    for claim in spec.get("claims", []):
        metric = claim["metric"]
        sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
        verdict, detail = "inconclusive", ""
        if claim["kind"] in ("better", "not_better"):
            a, b = avg(claim["a"], metric), avg(claim["b"], metric)
            if a is None or b is None:
                verdict, detail = "not run", "a row of the claim is not runnable yet or has no runs"
            elif all(_at_chance(claim["metric"], x[0]) for x in (a, b)) or \
                    _chance_pair(claim, by_id):
                verdict, detail = "inconclusive", CHANCE_NOTE
            else:
                diff = sign * (a[0] - b[0])
                ha = a[1] if not math.isnan(a[1]) else math.inf
                hb = b[1] if not math.isnan(b[1]) else math.inf
                half = math.sqrt(ha ** 2 + hb ** 2)
                better = "held" if diff - half > 0 else "not held" if diff + half < 0 else \
                    "inconclusive"
                if claim["kind"] == "not_better":
                    better = {"held": "not held", "not held": "held"}.get(better, better)
                verdict = better
                detail = (f"{'lower-is-better ' if sign < 0 else ''}difference {diff:+.3f} "
                          f"± {half:.3f} (95%)")
        elif claim["kind"] == "flat":
            vals = [avg(rid, metric) for rid in claim["rows"]]
            vals = [v for v in vals if v is not None]
            if len(vals) < 2:
                verdict, detail = "not run", "fewer than two rows ran"
            else:
                # Flat: every pair's interval of the difference holds zero.
                differ = False
                for i in range(len(vals)):
                    for j in range(i + 1, len(vals)):
                        hi = vals[i][1] if not math.isnan(vals[i][1]) else math.inf
                        hj = vals[j][1] if not math.isnan(vals[j][1]) else math.inf
                        if abs(vals[i][0] - vals[j][0]) > math.sqrt(hi ** 2 + hj ** 2):
                            differ = True
                means = [v[0] for v in vals]
                detail = f"range of means {max(means) - min(means):.3f}"
                missing = [rid for rid in claim["rows"] if avg(rid, metric) is None]
                if missing:
                    detail += f" (without {', '.join(missing)}: no run)"
                chance = all(_at_chance(metric, m) for m in means) or all(
                    _chance_pair({"metric": metric, "a": rid, "b": rid}, by_id)
                    for rid in claim["rows"])
                if chance:
                    verdict, detail = "inconclusive", CHANCE_NOTE + "; " + detail
                elif all(math.isinf(v[1]) or math.isnan(v[1]) for v in vals):
                    verdict = "inconclusive"
                else:
                    verdict = "not held" if differ else "held"
        out.append({"text": claim["text"], "verdict": verdict, "detail": detail})
    return out


def _at_chance(metric: str, value: float) -> bool:
    return metric in CHANCE_LEVEL and value < CHANCE_LEVEL[metric]


def _chance_pair(claim, by_id) -> bool:
    """MAE claims: both rows' ICC at chance (a constant prediction has a fine-looking MAE)."""
    if claim["metric"] != "mae" and claim["metric"] in CHANCE_LEVEL:
        return False
    out = []
    for rid in (claim["a"], claim["b"]):
        icc = (((by_id.get(rid) or {}).get("ours") or {}).get("icc") or {}).get("avg")
        out.append(icc is not None and _at_chance("icc", icc["mean"]))
    return all(out)


def _cell(d):
    if not d or d.get("mean") is None or math.isnan(d["mean"]):
        return "–"
    if d.get("ci95") is None or math.isnan(d["ci95"]):
        return f"{d['mean']:.3f}"
    return f"{d['mean']:.3f} ± {d['ci95']:.3f}"


def render_markdown(report: Dict[str, Any]) -> str:
    lines = [f"# {report['paper']} table {report['table']}", "", report["title"], "",
             f"Ours: mean ± 95% interval over {report['seeds']} seed(s). Published: the paper's "
             f"number on {report['published_dataset']} (for reference when ours is on synthetic "
             f"data); diff = ours - published.", ""]
    for metric in report["metrics"]:
        lines += [f"## {metric.upper()} (average over AUs)", "",
                  "| row | ours | published | diff | status |", "|---|---|---|---|---|"]
        for r in report["rows"]:
            pub = ((r.get("published") or {}).get(metric) or {}).get("avg")
            ours = ((r.get("ours") or {}).get(metric) or {}).get("avg")
            diff = "–"
            if pub is not None and ours and not math.isnan(ours["mean"]):
                diff = f"{ours['mean'] - pub:+.3f}"
            pub_s = "–" if pub is None else f"{pub}"
            lines.append(f"| {r['label']} | {_cell(ours)} | {pub_s} | {diff} | {r['status']} |")
        lines.append("")
        ran = [r for r in report["rows"] if ((r.get("ours") or {}).get(metric))]
        if ran:
            aus = [a for a in ran[0]["ours"][metric] if a != "avg"]
            lines += [f"Per AU, {metric.upper()}: ours mean ± 95% (published)", "",
                      "| row | " + " | ".join(aus) + " |", "|---" * (len(aus) + 1) + "|"]
            for r in ran:
                pub = (r.get("published") or {}).get(metric) or {}
                cells = []
                for a in aus:
                    p = pub.get(a, pub.get(a.replace("AU0", "AU")))
                    cells.append(_cell(r["ours"][metric].get(a)) +
                                 (f" ({p})" if p is not None else ""))
                lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
            lines.append("")
    lines += ["## Claims", "", "| claim | verdict | detail |", "|---|---|---|"]
    lines += [f"| {c['text']} | {c['verdict']} | {c['detail']} |" for c in report["claims"]]
    return "\n".join(lines) + "\n"


def _plots(report: Dict[str, Any], folder: str) -> List[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for metric in report["metrics"]:
        rows = [r for r in report["rows"] if (r.get("ours") or {}).get(metric)]
        if not rows:
            continue
        sweep = [r for r in rows if r.get("sweep_value") is not None]
        fig, ax = plt.subplots(figsize=(7, 4))
        if len(sweep) >= 2:
            xs = [r["sweep_value"] for r in sweep]
            ms = [r["ours"][metric]["avg"]["mean"] for r in sweep]
            hs = [np.nan_to_num(r["ours"][metric]["avg"]["ci95"]) for r in sweep]
            ax.errorbar(xs, ms, yerr=hs, marker="o", capsize=3, label="ours")
            if max(xs) / min(xs) > 20:   # sigma 0.2-5, lambda 0.005-0.5; k 3-9 stays linear
                ax.set_xscale("log")
                ax.minorticks_off()
            ax.set_xticks(xs, [f"{x:g}" for x in xs])
            for r in rows:   # rows outside the sweep (Fig. 7's ResNet-Deconv): a level line
                if r.get("sweep_value") is None:
                    m = r["ours"][metric]["avg"]["mean"]
                    ax.axhline(m, color="grey", linestyle="--", label=f"{r['label']} (ours)")
            ax.legend(fontsize=8)
            ax.set_xlabel(report.get("sweep") or "value")
        else:
            aus = [a for a in rows[0]["ours"][metric]]
            width = 0.8 / (2 * len(rows))
            for i, r in enumerate(rows):
                ms = [r["ours"][metric].get(a, {}).get("mean", np.nan) for a in aus]
                hs = [np.nan_to_num(r["ours"][metric].get(a, {}).get("ci95", 0)) for a in aus]
                x = np.arange(len(aus)) + (2 * i) * width
                ax.bar(x, ms, width, yerr=hs, label=f"{r['label']} (ours)")
                pub = (r.get("published") or {}).get(metric) or {}
                pub_values = [pub.get(a, pub.get(a.replace("AU0", "AU"), np.nan)) for a in aus]
                ax.bar(x + width, pub_values, width, alpha=0.5,
                       label=f"{r['label']} (paper)")
            ax.set_xticks(np.arange(len(aus)) + 0.4 - width)
            ax.set_xticklabels(aus, rotation=45, fontsize=7)
            ax.legend(fontsize=6)
        ax.set_ylabel(metric.upper())
        ax.set_title(f"{report['paper']} {report['table']}: {metric.upper()}", fontsize=9)
        fig.tight_layout()
        path = os.path.join(folder, f"{report['paper']}_table{report['table']}_{metric}.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def write_report(report: Dict[str, Any], folder: str) -> None:
    with open(os.path.join(folder, "report.md"), "w") as f:
        f.write(render_markdown(report))
    with open(os.path.join(folder, "report.json"), "w") as f:
        json.dump(report, f, indent=1, default=lambda o: None)
    report["plots"] = _plots(report, folder)


def main(args) -> int:
    spec_tables = PAPERS[args.paper]["tables"] if args.paper in PAPERS else None
    if spec_tables is None:
        raise SystemExit(f"unknown paper {args.paper!r}; known: {sorted(PAPERS)}")
    if args.table:
        tables = [args.table]
    else:   # every table; on a licensed dataset, every table on that dataset
        tables = [t for t in sorted(spec_tables) if args.dataset == "synthetic_au"
                  or spec_tables[t]["dataset"] == args.dataset]
        if not tables:
            raise SystemExit(f"--dataset {args.dataset}: {args.paper} has no table on it")
    if args.seeds < 1:
        raise SystemExit("--seeds must be >= 1")
    failed = 0
    for t in tables:
        report = run_study(args.paper, t, args.output, args.dataset, args.preset, args.seeds,
                           config=args.config, data_dir=args.data_dir)
        failed += len((report or {}).get("failures") or ())
    return 1 if failed else 0


def add_parser(sub) -> None:
    rp = sub.add_parser("reproduce", help="rerun a paper's table; ours beside the published")
    rp.add_argument("paper", choices=sorted(PAPERS))
    listing = "; ".join(f"{p}: {', '.join(PAPERS[p]['tables'])}" for p in PAPERS)
    rp.add_argument("--table", default=None,
                    help=f"table or figure (default: every one; on a licensed --dataset every "
                         f"one on that dataset). {listing}")
    rp.add_argument("--dataset", default="synthetic_au")
    rp.add_argument("--preset", default=None,
                    help="recipe preset (paper, cpu, tiny) or a study preset: "
                         f"{', '.join(STUDY_PRESETS)} (RESULTS.md)")
    rp.add_argument("--config", default=None,
                    help="dataset config (default: the table's protocol; on synthetic_au its "
                         "synthetic config where one exists, else the recipe's)")
    rp.add_argument("--data_dir", default=None, help="TFDS data folder")
    rp.add_argument("--seeds", type=int, default=3)
    rp.add_argument("--output", default="reproduce", help="study folder (resumable)")
    rp.set_defaults(func=main)


if __name__ == "__main__":
    sys.exit(0)
