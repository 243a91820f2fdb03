"""Throughput of tfau.data: decode + augment + targets, images per second.

  python -m tfau.data.bench_pipeline                       # synthetic_au/disfa_intensity, 256 px
  python -m tfau.data.bench_pipeline --image_size 128 --batches 40 --data_dir /tmp/tfds

Builds synthetic_au first if needed (not timed). Each case reads the JPEG records of one fold
and runs the full pipeline (JPEG decode, resize, augmentation, targets) without a model; the
first ``--warmup`` batches are not timed.
"""
from __future__ import annotations

import argparse
import time


def _cases():
    from tfau.data import AugmentConfig

    all_targets = ("labels", "label_mask", "heatmaps")
    return {
        # no augmentation, heatmaps + labels (the heatmap models)
        "none+heatmaps": (AugmentConfig(), all_targets),
        # rotation +-30 and flip, ROI maps (the ROI-map model on BP4D)
        "rotate_flip+roi": (AugmentConfig(flip=True, rotation=30.0),
                        ("labels", "label_mask", "roi_maps", "roi_mask")),
        # random 224 crop + flip (output 224; the per-AU relation model)
        "crop_flip": (AugmentConfig(flip=True, crop_fraction=224.0 / 256.0), ("labels", "label_mask")),
        # everything at once
        "full+heatmaps+roi": (AugmentConfig(flip=True, rotation=15, scale=0.1, translation=0.05,
                                            brightness=0.1, contrast=0.2, saturation=0.2),
                              all_targets + ("roi_maps", "roi_mask")),
    }


def run(data_dir=None, config="disfa_intensity", image_size=256, batch_size=32, batches=60,
        warmup=5, cases=None, decode_in_pipeline=True, windows=3):
    import tensorflow as tf

    from tfau.data import load_split, make_pipeline

    results = {}
    for name, (augment, targets) in _cases().items():
        if cases and name not in cases:
            continue
        size = 224 if name == "crop_flip" and image_size == 256 else image_size
        raw = load_split("synthetic_au", config, "fold1+fold2+fold3", data_dir,
                         decode_image=not decode_in_pipeline)
        ds = make_pipeline(raw.repeat(), config, size, targets=targets, batch_size=batch_size,
                           training=True, augment=augment, seed=0)
        it = iter(ds)
        for _ in range(warmup):
            next(it)
        # Best of `windows` consecutive windows (as timeit and the rest of tfau.bench): on this
        # shared 2-core VM one window's rate moves by +-15% from run to run.
        per_window = max(1, batches // windows)
        rates = []
        for _ in range(windows):
            start = time.perf_counter()
            for _ in range(per_window):
                features, _ = next(it)
            rates.append(per_window * batch_size / (time.perf_counter() - start))
        tf.debugging.assert_all_finite(features["image"], "image")
        results[name] = max(rates)
        print(f"{name:22s} {size}px batch {batch_size}: {results[name]:7.0f} images/s "
              f"(windows: {', '.join(f'{r:.0f}' for r in rates)})", flush=True)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--config", default="disfa_intensity")
    parser.add_argument("--image_size", type=int, default=256)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--cases", nargs="*", default=None, help=f"subset of {list(_cases())}")
    parser.add_argument("--tfds_decode", action="store_true",
                        help="let TFDS decode the JPEGs (as load_split's default) instead of "
                             "make_pipeline's own parallel map")
    args = parser.parse_args(argv)
    from tfau.data import get_builder
    from tfau.data.loading import prepare

    prepare(get_builder("synthetic_au", args.config, args.data_dir), "synthetic_au")
    run(args.data_dir, args.config, args.image_size, args.batch_size, args.batches, args.warmup,
        args.cases, decode_in_pipeline=not args.tfds_decode)


if __name__ == "__main__":
    main()
