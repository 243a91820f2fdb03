"""`tfau reproduce` end to end on the miniature synthetic_au (tests/conftest.py): one table of each
paper on the tiny preset writes a report whose published column equals the paper data file, and a
study killed mid-run resumes without retraining its finished rows."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tfau.reproduce import papers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _build_tiny_disfa_occurrence(data_dir):
    """synthetic_au/disfa_occurrence_tiny, the size of conftest's miniature configs."""
    from tfau_datasets.synthetic_au import synthetic_au_dataset_builder as sb

    name = "disfa_occurrence_tiny"
    if not os.path.exists(os.path.join(data_dir, "synthetic_au", name)):
        cfg = sb.SyntheticAuConfig(name=name, protocol="disfa_occurrence", n_identities=6,
                                   n_sequences=2, n_frames=4)
        sb.Builder(config=cfg, data_dir=data_dir).download_and_prepare()

CASES = {  # (paper, table) -> the miniature config of the table's protocol
    ("scc_heatmap", "2"): "disfa_intensity_tiny",
    ("g2rl", "1"): "disfa_intensity_tiny",
    ("roi_gcn", "4"): "disfa_occurrence_tiny",
    ("re_net", "3"): "bp4d_occurrence_tiny",   # BP4D+ has no synthetic config: BP4D's AUs
}
# SCC Table 2 (two trainings) runs by default; the other papers' tables with -m slow.
FAST = {("scc_heatmap", "2")}

RUN_ALL = """
import sys
from tfau import cli
data_dir, out = sys.argv[1:3]
for item in sys.argv[3:]:
    paper, table, config = item.split(":")
    assert cli.main(["reproduce", paper, "--table", table, "--preset", "tiny", "--seeds", "1",
                     "--config", config, "--data_dir", data_dir, "--output", out]) == 0
"""


_STUDIES = {}


def _study(cases, data_dir, tmp_path_factory, run_python):
    key = tuple(sorted(cases))
    if key not in _STUDIES:
        out = str(tmp_path_factory.mktemp("reproduce"))
        proc = run_python(["-c", RUN_ALL, data_dir, out,
                           *[f"{p}:{t}:{CASES[(p, t)]}" for p, t in key]], timeout=2400)
        _STUDIES[key] = (out, proc.stdout)
    return _STUDIES[key]


@pytest.fixture(scope="module")
def study(tiny_data_dir, tmp_path_factory, run_python_session):
    return _study(FAST, tiny_data_dir, tmp_path_factory, run_python_session)


@pytest.fixture(scope="module")
def slow_study(tiny_data_dir, tmp_path_factory, run_python_session):
    _build_tiny_disfa_occurrence(tiny_data_dir)
    return _study(set(CASES) - FAST, tiny_data_dir, tmp_path_factory, run_python_session)


@pytest.mark.parametrize("paper,table", [
    pytest.param(p, t, marks=[] if (p, t) in FAST else [pytest.mark.slow]) for p, t in CASES])
def test_report_beside_the_published_numbers(request, paper, table):
    out, stdout = request.getfixturevalue("study" if (paper, table) in FAST else "slow_study")
    folder = os.path.join(out, f"{paper}_table{table}")
    with open(os.path.join(folder, "report.json")) as f:
        report = json.load(f)
    spec = papers.PAPERS[paper]["tables"][table]
    # The published column is the paper data file's, row by row.
    assert [r["id"] for r in report["rows"]] == [r["id"] for r in spec["rows"]]
    assert [r["published"] for r in report["rows"]] == [r["published"] for r in spec["rows"]]
    for r, s in zip(report["rows"], spec["rows"]):
        if not s["method"]:
            assert r["status"].startswith("reference")
        elif r["status"].startswith("not runnable yet: "):
            assert "ours" not in r
        else:   # trained: our per-AU numbers and their average for every metric of the table
            assert r["status"] == "1/1 seed(s)", r
            for metric in spec["metrics"]:
                assert "avg" in r["ours"][metric] and r["ours"][metric]["avg"]["n"] == 1
    ran = [r["id"] for r in report["rows"] if r.get("ours")]
    assert ran, report["rows"]
    md = open(os.path.join(folder, "report.md")).read()
    for r in spec["rows"]:
        pub = (r["published"] or {}).get(spec["metrics"][0], {}).get("avg")
        if pub is not None:
            assert f"| {r['label']} |" in md and f"| {pub} |" in md
    assert len(report["claims"]) == len(spec["claims"])
    assert all(os.path.exists(os.path.join(folder, f"{paper}_table{table}_{m}.png"))
               for m in spec["metrics"])
    # The progress line names the row, fold and seed.
    assert f"[reproduce] {paper} table {table}: row {ran[0]} (1/" in stdout
    assert "fold 1, seed 1/1" in stdout


def test_scc_table2_rows_without_their_switch_say_so(study):
    out, stdout = study
    with open(os.path.join(out, "scc_heatmap_table2", "report.json")) as f:
        rows = {r["id"]: r for r in json.load(f)["rows"]}
    assert rows["a_dl3_scc"]["ours"] and rows["b_dl3_noscc"]["ours"]
    for rid in ("c_dl2_scc", "d_dl2_noscc"):
        if not rows[rid].get("ours"):
            assert rows[rid]["status"].startswith("not runnable yet: ")
            assert f"row {rid} not runnable yet: " in stdout


KILL = """
import sys
from tfau.reproduce import study
data_dir, out = sys.argv[1:3]
study.run_study("re_net", "3", out, preset="tiny", seeds=1, config="bp4d_occurrence_tiny",
                data_dir=data_dir)
"""


@pytest.mark.slow
def test_killed_study_resumes_without_retraining_finished_rows(tiny_data_dir, tmp_path,
                                                               run_python):
    """SIGKILL while the second row trains; the rerun reuses the first row, trains the rest."""
    out = str(tmp_path / "study")
    first = os.path.join(out, "re_net_table3", "resnet18", "seed0", "results.json")
    first_fold = os.path.join(os.path.dirname(first), "fold1", "results.json")
    second = os.path.join(out, "re_net_table3", "ours", "seed0")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen([sys.executable, "-c", KILL, tiny_data_dir, out], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 600
        while not os.path.exists(second) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert os.path.exists(first), "the first row did not finish before the second began"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not os.path.exists(os.path.join(out, "re_net_table3", "report.json"))
    mtimes = [os.path.getmtime(p) for p in (first, first_fold)]
    rerun = run_python(["-c", KILL, tiny_data_dir, out], timeout=2400)
    assert [os.path.getmtime(p) for p in (first, first_fold)] == mtimes
    assert "row resnet18 (1/2), fold 1, seed 1/1 finished, reused" in rerun.stdout
    assert "row ours (2/2), fold 1, seed 1/1; 1 of 2 run(s) left" in rerun.stdout
    with open(os.path.join(out, "re_net_table3", "report.json")) as f:
        rows = {r["id"]: r for r in json.load(f)["rows"]}
    assert all(rows[r]["status"] == "1/1 seed(s)" for r in ("resnet18", "ours"))
