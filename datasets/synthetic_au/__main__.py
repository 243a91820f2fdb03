"""Builds synthetic_au configs without the ``tfds`` CLI.

  python -m tfau_datasets.synthetic_au                      # default config (disfa_intensity)
  python -m tfau_datasets.synthetic_au --config bp4d_occurrence --data_dir /tmp/tfds
  python -m tfau_datasets.synthetic_au --config all

Same records as ``tfds build datasets/synthetic_au --config NAME``, without the TFDS command
line's start-up (it imports apache-beam and mlcroissant) and with ``--config all``.
"""
from __future__ import annotations

import argparse
import time


def main(argv=None) -> None:
    from tfau_datasets.synthetic_au import synthetic_au_dataset_builder as sab

    names = [c.name for c in sab.Builder.BUILDER_CONFIGS]
    parser = argparse.ArgumentParser(description="Build the synthetic_au TFDS dataset.")
    parser.add_argument("--config", default=names[0], help=f"one of {names} or 'all'")
    parser.add_argument("--data_dir", default=None, help="TFDS data dir (default ~/tensorflow_datasets)")
    parser.add_argument("--workers", type=int, default=None,
                        help=f"render processes (default: ${sab.WORKERS_ENV} or up to 4 cores)")
    args = parser.parse_args(argv)
    if args.workers:
        import os
        os.environ[sab.WORKERS_ENV] = str(args.workers)
    for name in names if args.config == "all" else [args.config]:
        start = time.perf_counter()
        builder = sab.Builder(config=name, data_dir=args.data_dir)
        builder.download_and_prepare()
        n = sum(s.num_examples for s in builder.info.splits.values())
        print(f"synthetic_au/{name}: {n} examples in {time.perf_counter() - start:.1f} s "
              f"-> {builder.data_dir}")


if __name__ == "__main__":
    main()
