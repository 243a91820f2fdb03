"""Frames per second of a builder, plain and on Apache Beam's DirectRunner at N workers, with
real dlib face detection and alignment (BENCHMARKS.md, section "Dataset builds on Apache Beam").

  python datasets/bench_beam.py                      # DISFA dummy data (14 frames)
  python datasets/bench_beam.py --fake_subjects 6 --fake_frames 30   # 1024x768 fake DISFA

Left camera (``intensity``): frames with a landmark file are aligned on it, the others go
through dlib's detector and landmark model (the dummy data misses one file; the fake copy misses
every other one). The dummy faces are cartoons that dlib mostly does not find (those frames are
dropped and counted), but the detector runs on each; a right-camera build of the dummy data has
no frame left in some split, which TFDS refuses. Frames = frames processed (kept + dropped,
from the build summary). Wall time includes Beam's start-up (worker processes import
TensorFlow). CPU seconds (this process + its finished child processes) do not depend on how
busy the machine is: frames per CPU-second x idle cores bounds what N workers can reach.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import tempfile
import time

import tensorflow_datasets as tfds

from tfau_datasets import testing
from tfau_datasets.disfa import disfa_dataset_builder as disfa

HERE = pathlib.Path(__file__).resolve().parent


def run(manual_dir, config: str, workers: int) -> dict:
    """One build; workers 0 = plain local build."""
    options = None
    if workers:
        beam = tfds.core.lazy_imports.apache_beam
        options = beam.options.pipeline_options.PipelineOptions([
            "--runner=DirectRunner", f"--direct_num_workers={workers}",
            "--direct_running_mode=multi_processing"])
    builder = disfa.Builder(data_dir=tempfile.mkdtemp(prefix="bench_beam_"), config=config)
    cpu0 = _cpu_s()
    start = time.perf_counter()
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=str(manual_dir), beam_options=options))
    wall = time.perf_counter() - start
    cpu = _cpu_s() - cpu0
    summary = builder.info.metadata["build_summary"]
    frames = sum(s["frames_kept"] + s["frames_dropped"] for s in summary.values())
    kept = sum(s["frames_kept"] for s in summary.values())
    return {"workers": workers or "plain", "frames": frames, "kept": kept,
            "wall_s": round(wall, 1), "frames_per_s": round(frames / wall, 2),
            "cpu_s": round(cpu, 1), "frames_per_cpu_s": round(frames / cpu, 2)}


def _cpu_s() -> float:
    """User + system CPU seconds of this process and its finished children (Beam's workers)."""
    import resource  # pylint: disable=g-import-not-at-top

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="intensity")
    parser.add_argument("--workers", default="0,1,2", help="comma list; 0 = plain build")
    parser.add_argument("--fake_subjects", type=int, default=0,
                        help="build a fake DISFA copy of this many subjects instead")
    parser.add_argument("--fake_frames", type=int, default=40)
    parser.add_argument("--fake_size", default="1024x768", help="fake video frame size (DISFA's)")
    args = parser.parse_args()
    os.environ.pop("TFAU_FACE_ALIGNER", None)  # real dlib
    manual_dir = HERE / "disfa" / "dummy_data"
    if args.fake_subjects:
        from tfau_datasets import common  # pylint: disable=g-import-not-at-top

        subjects = [s for fold in zip(*common.DISFA_FOLDS) for s in fold][:args.fake_subjects]
        manual_dir = testing.write_fake_disfa(
            tempfile.mkdtemp(prefix="bench_disfa_"),
            {s: {"frames": args.fake_frames, "skip": range(1, args.fake_frames, 2)}
             for s in subjects},
            frame_size=tuple(int(v) for v in args.fake_size.split("x")))
    for w in [int(x) for x in args.workers.split(",")]:
        print(json.dumps({"config": args.config, **run(manual_dir, args.config, w),
                          "load_avg_1min": round(os.getloadavg()[0], 1)}), flush=True)


if __name__ == "__main__":
    main()
