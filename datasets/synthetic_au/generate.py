"""From rendered frames to dataset examples: labels per protocol, subject folds, JPEG encoding.

Shared by the TFDS builder (``synthetic_au_dataset_builder.py``), its tests and the contact sheet.
No TensorFlow here, so worker processes that render in parallel start quickly.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from tfau import aus as aus_lib

try:
    from tfau_datasets.synthetic_au import render
except ImportError:  # pragma: no cover - running from inside the folder
    import render  # type: ignore

JPEG_QUALITY = 95
FOLD_SPLITS = ("fold1", "fold2", "fold3")


@dataclasses.dataclass(frozen=True)
class Size:
    """How much to render: identities x sequences x frames per sequence."""

    n_identities: int
    n_sequences: int
    n_frames: int

    @property
    def n_examples(self) -> int:
        return self.n_identities * self.n_sequences * self.n_frames


def folds(n_identities: int) -> Tuple[Tuple[str, ...], Tuple[str, ...], Tuple[str, ...]]:
    """Subject-exclusive thirds: identity ``i`` goes to part ``i % 3`` (``fold{i % 3 + 1}``).

    Same shape as ``tfau_datasets.common.DISFA_FOLDS`` so ``common.fold_of`` works on it.
    Identities are drawn independently, so every part gets the same mix of face shapes,
    skin tones, lighting and backgrounds.
    """
    parts = tuple(tuple(render.subject_name(i) for i in range(n_identities) if i % 3 == k)
                  for k in range(3))
    return parts  # type: ignore[return-value]


def protocol_columns(protocol: aus_lib.Protocol) -> np.ndarray:
    """Indices into ``render.AUS`` of the protocol's AUs (output order)."""
    missing = [a for a in protocol.aus if a not in render.AU_COLUMN]
    if missing:
        raise ValueError(f"protocol {protocol.name!r} needs AUs {missing} that synthetic_au "
                         f"does not render (it renders {render.AUS})")
    return np.array([render.AU_COLUMN[a] for a in protocol.aus], np.int64)


def labels_from_levels(levels: np.ndarray, protocol: aus_lib.Protocol,
                       threshold: Optional[float] = None) -> np.ndarray:
    """Labels ``[..., A]`` float32 from rendered levels ``[..., len(render.AUS)]``.

    Intensity protocols: the rendered integer level (0-5). Occurrence protocols: 1 where the
    rendered level is ``>= threshold`` (default: the protocol's threshold, e.g. DISFA's 2, and 1
    for protocols with native occurrence labels such as BP4D: any visible activation).
    """
    x = np.asarray(levels)[..., protocol_columns(protocol)].astype(np.float32)
    if protocol.task == aus_lib.INTENSITY:
        return x
    if threshold is None:
        threshold = protocol.threshold if protocol.threshold is not None else 1.0
    return (x >= float(threshold)).astype(np.float32)


def unknown_mask(identity: int, sequence: int, frame: int, n_aus: int, rate: float,
                 seed: int = 0) -> np.ndarray:
    """label_mask ``[A]``: 0 with probability ``rate`` per AU (simulated "not coded" labels)."""
    if rate <= 0:
        return np.ones(n_aus, np.float32)
    rng = render._rng(seed, 4, identity, sequence, frame)  # pylint: disable=protected-access
    return (rng.uniform(size=n_aus) >= rate).astype(np.float32)


def encode_jpeg(image_rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def example_key(identity: int, sequence: int, frame: int) -> str:
    return f"{render.subject_name(identity)}_{render.sequence_name(sequence)}_{frame:04d}"


@dataclasses.dataclass(frozen=True)
class ExampleSpec:
    """Everything a worker needs to turn one sequence into examples (picklable)."""

    protocol_name: str
    n_frames: int
    seed: int = 0
    threshold: Optional[float] = None
    unknown_rate: float = 0.0


def sequence_examples(spec: ExampleSpec, identity: int, sequence: int) -> List[Tuple[str, Dict]]:
    """Renders one sequence into ``(key, example)`` pairs in the builder's feature format."""
    protocol = aus_lib.get_protocol(spec.protocol_name)
    out = []
    for fr in render.iter_sequence(identity, sequence, spec.n_frames, spec.seed):
        labels = labels_from_levels(fr.levels, protocol, spec.threshold)
        mask = unknown_mask(identity, sequence, fr.frame, protocol.n_aus, spec.unknown_rate,
                            spec.seed)
        out.append((example_key(identity, sequence, fr.frame), {
            "image": encode_jpeg(fr.image),
            "landmarks": fr.landmarks.astype(np.float32),
            "labels": (labels * mask).astype(np.float32),  # 0 where not coded
            "label_mask": mask,
            "subject": render.subject_name(identity),
            "sequence": render.sequence_name(sequence),
            "frame": np.int32(fr.frame),
        }))
    return out


def _sequence_examples_star(args):
    return sequence_examples(*args)


def iter_examples(spec: ExampleSpec, identities: Sequence[int], n_sequences: int,
                  workers: int = 1) -> Iterator[Tuple[str, Dict]]:
    """All examples of ``identities``; rendered in ``workers`` processes when > 1.

    Output does not depend on ``workers`` (every frame's randomness comes from its own keys).
    Workers come from a fork server that imports only this module (numpy, OpenCV, the
    renderer): never forked from the parent, which has TensorFlow's threads running, and never
    re-importing the parent's ``__main__`` (the ``tfds`` CLI or pytest).
    """
    tasks = [(spec, int(i), s) for i in identities for s in range(n_sequences)]
    if workers <= 1 or len(tasks) < 4:
        for task in tasks:
            yield from _sequence_examples_star(task)
        return
    for chunk in _pool(workers).map(_sequence_examples_star, tasks, chunksize=2):
        yield from chunk


_POOLS: Dict[int, "concurrent.futures.ProcessPoolExecutor"] = {}


def exit_with_parent(main_pid: int, poll_s: float = 1.0) -> None:
    """Worker initializer: the worker ends when the build process dies, even by SIGKILL.

    A killed parent never closes the pool, and its workers would wait for work forever (issue 17
    item 8: four blocked workers, 1.6 GB). Two guards: Linux's parent-death signal
    (``prctl(PR_SET_PDEATHSIG, SIGKILL)``; the worker's parent is the fork server, which exits
    when the build process does), and a daemon thread that exits the worker once ``main_pid``
    is gone or the worker has been re-parented (every other platform, and a pid-reuse guard).
    """
    import ctypes  # pylint: disable=g-import-not-at-top
    import signal  # pylint: disable=g-import-not-at-top
    import threading  # pylint: disable=g-import-not-at-top
    import time  # pylint: disable=g-import-not-at-top

    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl: the thread guards
            pass
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)  # pylint: disable=protected-access

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent or gone(main_pid):
                os._exit(1)  # pylint: disable=protected-access

    threading.Thread(target=watch, name="exit_with_parent", daemon=True).start()


def _pool(workers: int):
    """A process pool kept for the life of the process (the builder renders its three splits
    one after the other; starting workers once saves seconds per split)."""
    pool = _POOLS.get(workers)
    if pool is None:
        import atexit
        import concurrent.futures
        import multiprocessing

        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=exit_with_parent,
            initargs=(os.getpid(),))
        _POOLS[workers] = pool
        atexit.register(pool.shutdown, wait=False, cancel_futures=True)
    return pool
