"""A training run killed (SIGKILL) after epoch 2 and started again with the same --output_dir
resumes from its atomic backup (tfau.training.callbacks) and ends exactly like an uninterrupted run."""
import csv
import json
import os
import signal

import h5py
import numpy as np
import pytest

KILL_SCRIPT = """
import os, runpy, signal, sys
import keras
from tfau.training import main

class KillAfterEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == int(os.environ["KILL_AFTER_EPOCH"]):
            os.kill(os.getpid(), signal.SIGKILL)

if os.environ.get("KILL_DURING_BACKUP"):
    # killed while the backup of epoch KILL_DURING_BACKUP is on disk but not yet renamed
    from tfau.training import callbacks as cb
    real = cb._fsync_tree
    def fsync_then_die(path):
        real(path)
        if os.path.basename(path).startswith(".state-%05d." % int(os.environ["KILL_DURING_BACKUP"])):
            os.kill(os.getpid(), signal.SIGKILL)
    cb._fsync_tree = fsync_then_die
    main("g2rl", sys.argv[1:])
else:
    main("g2rl", sys.argv[1:], callbacks=[KillAfterEpoch()])
"""


def _args(data_dir, out):
    return ["--preset", "tiny", "--config", "disfa_intensity_tiny", "--data_dir", data_dir,
            "--output_dir", out, "--no_export", "--epochs", "3", "--verbose", "0"]


def _history(run_dir):
    with open(os.path.join(run_dir, "history.csv")) as f:
        return [{k: float(v) for k, v in row.items() if v != "NA"} for row in csv.DictReader(f)]


def _weights(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
    return out


@pytest.fixture(scope="module")
def full_run(tiny_data_dir, tmp_path_factory, run_python_session):
    full = str(tmp_path_factory.mktemp("full"))
    run_python_session(["train_scripts/g2rl.py", *_args(tiny_data_dir, full)])
    return full


@pytest.mark.parametrize("kill_env, resumed_after", [
    ({"KILL_AFTER_EPOCH": "1"}, 2),       # killed between epochs
    ({"KILL_DURING_BACKUP": "2"}, 1),     # killed while epoch 2's backup was being written
])
def test_killed_run_resumes_to_the_same_result(tiny_data_dir, tmp_path, run_python, full_run,
                                               kill_env, resumed_after):
    full, killed = full_run, str(tmp_path / "killed")
    proc = run_python(["-c", KILL_SCRIPT, *_args(tiny_data_dir, killed)],
                      env=kill_env, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert not os.path.exists(os.path.join(killed, "results.json"))
    state = f"state-{resumed_after:05d}"
    complete = [n for n in os.listdir(os.path.join(killed, "backup")) if not n.startswith(".")]
    assert complete == [state]
    with open(os.path.join(killed, "backup", state, "state.json")) as f:
        assert json.load(f)["epoch"] == resumed_after

    resumed = run_python(["train_scripts/g2rl.py", *_args(tiny_data_dir, killed)])
    assert f"resuming fold 1 after epoch {resumed_after}" in resumed.stdout
    assert not os.path.exists(os.path.join(killed, "backup"))  # deleted after a finished fit

    # every epoch's training losses, the final weights and the held-out metrics agree
    h_full, h_killed = _history(full), _history(killed)
    assert [h["epoch"] for h in h_killed] == [0, 1, 2]
    for a, b in zip(h_full, h_killed):
        for key in ("loss", "heatmap_loss", "geometry_loss"):
            np.testing.assert_allclose(b[key], a[key], rtol=1e-5, err_msg=key)
    w_full = _weights(os.path.join(full, "final.weights.h5"))
    w_killed = _weights(os.path.join(killed, "final.weights.h5"))
    assert w_full.keys() == w_killed.keys() and len(w_full) > 20
    for name in w_full:
        np.testing.assert_allclose(w_killed[name], w_full[name], rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    with open(os.path.join(full, "results.json")) as f:
        r_full = json.load(f)["results"]
    with open(os.path.join(killed, "results.json")) as f:
        r_killed = json.load(f)["results"]
    for metric in ("icc", "mae"):
        for au, value in r_full[metric].items():
            if value is None:
                assert r_killed[metric][au] is None
            else:
                np.testing.assert_allclose(r_killed[metric][au], value, rtol=1e-4, atol=1e-6)
