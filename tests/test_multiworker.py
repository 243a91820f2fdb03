"""Training under MultiWorkerMirroredStrategy: two worker processes on localhost (TF_CONFIG).

Both workers train in lock-step (all-reduced gradients), so they end with identical trainable
weights (batch-norm moving statistics stay per worker);
only the chief (worker 0) writes the run folder, the table and the SavedModel.
"""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKER = """
import runpy, sys
import keras
import numpy as np
from tfau.training import main

class Fingerprint(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        total = sum(float(np.sum(np.abs(np.asarray(w, np.float64)))) for w in self.model.trainable_weights)
        print(f"FINGERPRINT {total:.10e}", flush=True)

recipe = "resnet_deconv"
main(recipe, sys.argv[1:], callbacks=[Fingerprint()])
"""


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_train_in_sync(tiny_data_dir, tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    out, exp = str(tmp_path / "run"), str(tmp_path / "saved")
    args = ["--preset", "tiny", "--config", "disfa_intensity_tiny", "--data_dir", tiny_data_dir,
            "--output_dir", out, "--export_dir", exp, "--verbose", "0"]
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
                   TF_CONFIG=json.dumps({"cluster": cluster,
                                         "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER, *args], cwd=REPO, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=900)
            outputs.append((p.returncode, stdout, stderr))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for code, stdout, stderr in outputs:
        assert code == 0, f"STDOUT:\n{stdout[-3000:]}\nSTDERR:\n{stderr[-3000:]}"
    prints = [[l for l in o[1].splitlines() if l.startswith("FINGERPRINT")] for o in outputs]
    assert len(prints[0]) == 1 and prints[0] == prints[1], prints  # identical weights
    with open(os.path.join(out, "run.json")) as f:
        run = json.load(f)
    assert run["strategy"] == "MultiWorkerMirroredStrategy with 2 replica(s)"
    with open(os.path.join(out, "results.json")) as f:
        assert json.load(f)["results"]["n_frames"] == 16
    assert os.listdir(exp) == ["resnet_deconv_synthetic_au_disfa_intensity_tiny_fold1"]
    assert "| ICC |" in outputs[0][1] and "| ICC |" not in outputs[1][1]  # chief prints the table
