"""Render workers exit when the build process dies (issue 17 item 8: after ``kill -9`` of
``tfds build datasets/synthetic_au`` its 4 workers stayed blocked forever, about 1.6 GB)."""
import os
import signal
import subprocess
import sys
import time

import pytest

_CHILD = """
import time
from tfau_datasets.synthetic_au import generate
pool = generate._pool(2)
list(pool.map(abs, range(8)))  # workers started and idle, as between two splits
print(" ".join(str(pid) for pid in pool._processes), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_the_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", _CHILD], stdout=subprocess.PIPE, text=True)
    workers = []
    try:
        workers = [int(p) for p in parent.stdout.readline().split()]
        assert workers and all(_alive(p) for p in workers)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 20
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers), "render workers outlived their parent"
    finally:
        parent.stdout.close()
        for pid in workers:  # never leave them behind, even when the test fails
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()
