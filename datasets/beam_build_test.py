"""Beam builds equal plain builds (issue 14): every builder, on its dummy data, built once as a
plain local build and once on Apache Beam's DirectRunner with 2 worker processes; the parsed
records (as sets: TFDS orders a split by key hash either way) and the build summaries in the
metadata must be equal.

Beam's worker processes do not see ``mock.patch``; the fake face aligner (cartoon faces are not
dlib faces) reaches them through ``TFAU_FACE_ALIGNER``. Worker processes import TensorFlow
(tens of seconds on a loaded 2-core machine), so the default suite runs DISFA on 2 worker
threads; the 2-process builds of every builder are ``slow``.
"""
import hashlib
import os
import pathlib
import subprocess
import sys
import tempfile
import types

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tfau_datasets import au_builder_lib as lib
from tfau_datasets import build_lib
from tfau_datasets.bp4d import bp4d_dataset_builder as bp4d
from tfau_datasets.bp4d_plus import bp4d_plus_dataset_builder as bp4d_plus
from tfau_datasets.disfa import disfa_dataset_builder as disfa
from tfau_datasets.synthetic_au import synthetic_au_dataset_builder as sab

HERE = pathlib.Path(__file__).resolve().parent
TINY = sab.SyntheticAuConfig(name="tiny_beam", protocol="bp4d_occurrence", n_identities=3,
                             n_sequences=2, n_frames=2, unknown_rate=0.2)


def beam_options(workers: int = 2, mode: str = "multi_processing"):
    beam = tfds.core.lazy_imports.apache_beam
    return beam.options.pipeline_options.PipelineOptions([
        "--runner=DirectRunner", f"--direct_num_workers={workers}",
        f"--direct_running_mode={mode}"])


def build(builder_cls, config, manual_dir, options=None):
    builder = builder_cls(data_dir=tempfile.mkdtemp(prefix="beam_eq_"), config=config)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=None if manual_dir is None else str(manual_dir), beam_options=options))
    return builder


def records(builder):
    """{split: set of parsed records}; images by digest of their decoded pixels."""
    out = {}
    for split in builder.info.splits:
        rows = set()
        for ex in tfds.as_numpy(builder.as_dataset(split=split)):
            rows.add((ex["subject"].decode(), ex["sequence"].decode(), int(ex["frame"]),
                      ex["labels"].tobytes(), ex["label_mask"].tobytes(),
                      np.round(ex["landmarks"], 3).tobytes(),
                      hashlib.sha1(ex["image"].tobytes()).hexdigest()))
        out[split] = rows
    return out


def assert_beam_equals_plain(builder_cls, config, manual_dir, monkeypatch,
                             mode: str = "multi_processing"):
    monkeypatch.setenv(lib.ALIGNER_ENV, "tfau_datasets.testing:FakeFaceAligner")
    plain = build(builder_cls, config, manual_dir)
    beam = build(builder_cls, config, manual_dir, beam_options(2, mode))
    assert not plain._use_beam and beam._use_beam  # pylint: disable=protected-access
    want, got = records(plain), records(beam)
    assert sorted(got) == sorted(want) and all(want.values())
    for split in want:
        assert got[split] == want[split], split
        assert len(got[split]) == plain.info.splits[split].num_examples
    plain_summary = plain.info.metadata["build_summary"]
    assert beam.info.metadata["build_summary"] == plain_summary
    assert sum(s["frames_kept"] for s in plain_summary.values()) == \
        sum(len(v) for v in want.values())
    # The summary is in the dataset folder too (metadata.json), for users.
    reread = builder_cls(data_dir=beam.data_dir.rsplit("/", 3)[0], config=config)
    assert reread.info.metadata["build_summary"] == plain_summary
    return plain_summary


def test_disfa_beam_build_equals_plain_build(monkeypatch):
    """Default suite: 2 worker threads (worker processes import TensorFlow: see the slow one)."""
    summary = assert_beam_equals_plain(disfa.Builder, "intensity", HERE / "disfa" / "dummy_data",
                                       monkeypatch, mode="multi_threading")
    assert summary["fold1"]["landmark_source"] == {"SN001/left": "dataset file 4, re-detected 1"}


@pytest.mark.slow
def test_disfa_beam_build_with_two_processes_equals_plain_build(monkeypatch):
    assert_beam_equals_plain(disfa.Builder, "occurrence_right", HERE / "disfa" / "dummy_data",
                             monkeypatch)


@pytest.mark.slow
def test_bp4d_beam_build_equals_plain_build(monkeypatch):
    assert_beam_equals_plain(bp4d.Builder, "intensity", HERE / "bp4d" / "dummy_data" /
                             "binghamton", monkeypatch)


@pytest.mark.slow
def test_bp4d_plus_beam_build_equals_plain_build(monkeypatch):
    assert_beam_equals_plain(bp4d_plus.Builder, "occurrence", HERE / "bp4d_plus" / "dummy_data",
                             monkeypatch)


@pytest.mark.slow
def test_synthetic_au_beam_build_equals_plain_build(monkeypatch):
    summary = assert_beam_equals_plain(sab.Builder, TINY, None, monkeypatch)
    assert set(summary["fold1"]["landmark_source"].values()) == {"rendered"}


def test_summaries_from_counters_rebuild_the_local_summary():
    """The Beam side's counter encoding round-trips to the plain build's summary."""
    class Key:
        def __init__(self, namespace, name):
            self.metric = type("M", (), {"namespace": namespace, "name": name})

    class Counter:
        def __init__(self, namespace, name, value):
            self.key, self.committed, self.attempted = Key(namespace, name), value, value

    per_seq = {"SN001/left": {"examples": 4, "from_landmarks": 3, "redetected": 1,
                              "skipped_no_face": 1},
               "SN002/left": {}}
    counters = [Counter("other", "examples", 99)]
    totals = {}
    for unit, counts in per_seq.items():
        counters.append(Counter("tfau_build/fold1", f"seq:{unit}:units", 1))
        for k, v in counts.items():
            counters.append(Counter("tfau_build/fold1", f"seq:{unit}:{k}", v))
            totals[k] = totals.get(k, 0) + v
    counters += [Counter("tfau_build/fold1", k, v) for k, v in totals.items()]
    got = build_lib.summaries_from_counters(counters)
    want = build_lib.split_summary(totals, per_seq, lambda u: u.split("/")[0])
    assert got == {"fold1": want}
    assert want["subjects"] == 2 and want["frames_kept"] == 4 and want["frames_dropped"] == 1
    assert want["landmark_source"] == {"SN001/left": "dataset file 3, re-detected 1",
                                       "SN002/left": "none"}


def test_progress_reports_frames_rate_and_estimate():
    now = [0.0]
    progress = build_lib.Progress("x fold1", n_units=4, total_frames=100, interval=10,
                                  clock=lambda: now[0])
    now[0] = 20.0
    progress.frame(25)
    progress.unit_done()
    line = progress.line()
    assert "25 frames" in line and "1/4 sequences" in line and "1.2 frames/s" in line
    assert "about 1.0 min left" in line  # 25 of 100 frames in 20 s: 60 s to go


_RUN_UNITS = """
import sys
from apache_beam.internal import pickler
from tfau_datasets import build_lib
for path in sys.argv[1:]:
    units = pickler.loads(open(path, "rb").read())
    unit_id, fn = units[0]
    tally = build_lib.Tally(unit_id)
    n = len(list(fn(tally)))
    print(path.rsplit("/", 1)[-1], len(units), unit_id, n, tally["examples"])
"""


def test_units_of_builders_loaded_as_tfds_build_does_run_without_the_datasets_folder(tmp_path):
    """``tfds build datasets/disfa`` imports ``disfa.disfa_dataset_builder`` from the folder; Beam
    workers do not have that folder on their path, so every unit must unpickle and run with
    ``tfau_datasets`` alone (it failed with "No module named 'disfa'" before)."""
    from apache_beam.internal import pickler  # pylint: disable=g-import-not-at-top
    from etils import epath  # pylint: disable=g-import-not-at-top
    from tensorflow_datasets.core.community import load  # pylint: disable=g-import-not-at-top
    from tensorflow_datasets.core.utils import py_utils  # pylint: disable=g-import-not-at-top

    cases = {"disfa": (HERE / "disfa" / "dummy_data", "intensity"),
             "bp4d": (HERE / "bp4d" / "dummy_data" / "binghamton", "occurrence"),
             "bp4d_plus": (HERE / "bp4d_plus" / "dummy_data", "occurrence"),
             "synthetic_au": (tmp_path, TINY)}
    paths = []
    for name, (manual_dir, config) in cases.items():
        with py_utils.add_sys_path(HERE):
            cls = load.builder_cls_from_module(f"{name}.{name}_dataset_builder")
        assert cls.__module__ == f"{name}.{name}_dataset_builder"
        builder = cls(data_dir=str(tmp_path / "out"), config=config)
        builder._use_beam = True  # pylint: disable=protected-access
        generators = builder._split_generators(  # pylint: disable=protected-access
            types.SimpleNamespace(manual_dir=epath.Path(manual_dir)))
        transform = generators["fold1"]
        path = tmp_path / f"{name}.units"
        path.write_bytes(pickler.dumps(transform.units))
        paths.append(str(path))
    env = {**os.environ, lib.ALIGNER_ENV: "tfau_datasets.testing:FakeFaceAligner",
           "PYTHONPATH": ""}
    out = subprocess.run([sys.executable, "-c", _RUN_UNITS, *paths], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    got = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines()}
    assert got == {"disfa.units": ["1", "SN001/left", "5", "5"],
                   "bp4d.units": ["2", "F001/T1", "4", "4"],
                   "bp4d_plus.units": ["2", "F001/T1", "4", "4"],
                   "synthetic_au.units": ["2", "S001/Q01", "2", "2"]}, out.stdout


def test_local_generator_records_the_summary_and_explains_an_empty_split(caplog):
    def unit(tally):
        tally.add("skipped_no_face", 3)
        return iter(())

    recorded = {}
    with caplog.at_level("INFO"):
        out = list(build_lib.local_generator("x/cfg", "fold2", [("S1/T1", unit)],
                                             recorded.__setitem__))
    assert out == [] and recorded["fold2"]["frames_dropped_by_reason"] == {"skipped_no_face": 3}
    assert recorded["fold2"]["landmark_source"] == {"S1/T1": "none"}
    assert any("no frame kept" in r.getMessage() and "skipped_no_face" in r.getMessage()
               for r in caplog.records)
