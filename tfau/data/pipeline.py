"""Raw TFDS examples -> model-ready ``(features, targets)`` batches (ARCHITECTURE.md contract).

Stages:
  1. per example, parallel: decode the JPEG (if still encoded), resize the face to the working
     side (``image_size``, or ``image_size / crop_fraction`` when cropping), scale landmarks;
     keep only image / landmarks / labels / label_mask.
  2. optional ``cache()`` of those uint8 images (about 200 kB per 256 face).
  3. when training: shuffle (seeded; before decoding when not caching, so the buffer holds
     small JPEG records), then batch.
  4. per batch, vectorised: augmentation (one affine warp for the whole batch, colour jitter),
     then the targets from the augmented landmarks (``tfau.targets``), ``au_index``.
  5. prefetch.

The augmentation and target stage works on whole batches because one batched warp and one
batched target computation cost far less per image than per-example maps on 2 cores.
"""
from __future__ import annotations

import ctypes
import os
import sys
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import tensorflow as tf

from tfau import aus as aus_lib
from tfau import geometry
from tfau import targets as targets_lib
from tfau.data.augment import AugmentConfig, augment_batch

TARGET_KEYS = ("labels", "label_mask", "heatmaps", "roi_maps", "roi_mask")
SOURCE_SIZE = 256
AUTOTUNE = tf.data.AUTOTUNE


_MALLOC_TUNED = False


def tune_malloc(threshold: int = 256 << 20) -> bool:
    """Keeps freed batch buffers in glibc's heap instead of returning them to the OS.

    A float32 batch of 256x256 faces is 25 MB per 32 images; glibc serves blocks that large with
    ``mmap`` and unmaps them on free, so every batch pays ~200 page faults per image (measured:
    2x the CPU time of the whole pipeline at batch 64). Raising ``M_MMAP_THRESHOLD`` /
    ``M_TRIM_THRESHOLD`` (``mallopt``) lets the memory be reused. ``M_TOP_PAD`` does the same
    for the per-thread arenas of TensorFlow's and Eigen's worker threads, which otherwise hand
    their heaps' tops back (``MADV_DONTNEED``) and fault them in again on the next op: in the main
    job (XLA on CPU) the three settings cut a 1-epoch run's minor page faults from 4.5 M to 1.7 M
    and its system time from 19 to 8.5 s. Called by the trainer at start-up and by
    ``make_pipeline``; set ``TFAU_MALLOPT=0`` to skip. No-op off glibc. Returns True if applied.
    (``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` environment variables, set before
    Python starts, do the same and reach allocations made at start-up too.)
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED or os.environ.get("TFAU_MALLOPT", "1") == "0" or not sys.platform.startswith("linux"):
        return _MALLOC_TUNED
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(-3, int(threshold)) == 1  # M_MMAP_THRESHOLD
        ok = libc.mallopt(-1, int(2 * threshold)) == 1 and ok  # M_TRIM_THRESHOLD
        ok = libc.mallopt(-2, int(threshold // 4)) == 1 and ok  # M_TOP_PAD
    except (OSError, AttributeError):
        return False
    _MALLOC_TUNED = ok
    return ok


_protocol = aus_lib.resolve_protocol  # the one protocol resolver (tfau.aus)


def _decode(example, work_size: int):
    image = example["image"]
    if image.dtype == tf.string:
        image = tf.io.decode_jpeg(image, channels=3)
    src = tf.shape(image)[0]
    landmarks = tf.cast(example["landmarks"], tf.float32)

    def resize():
        # Antialiased (area-like) resize: thin wrinkles survive downscaling.
        out = tf.image.resize(image, [work_size, work_size], method="bilinear", antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)

    if image.shape[0] is not None and image.shape[1] is not None:  # static: decide now
        if image.shape[0] != work_size or image.shape[1] != work_size:
            image = resize()
    else:  # JPEG bytes: decide per example (the usual case needs no resize)
        same = tf.logical_and(tf.equal(src, work_size), tf.equal(tf.shape(image)[1], work_size))
        image = tf.cond(same, lambda: tf.ensure_shape(image, [work_size, work_size, 3]), resize)
    ratio = tf.cast(work_size, tf.float32) / tf.cast(src, tf.float32)
    landmarks = (landmarks + 0.5) * ratio - 0.5  # identity when no resize
    image = tf.ensure_shape(image, [work_size, work_size, 3])
    mask = tf.cast(example["label_mask"], tf.float32)
    return {
        "image": image,
        "landmarks": tf.ensure_shape(landmarks, [geometry.N_LANDMARKS, 2]),
        "labels": tf.cast(example["labels"], tf.float32) * mask,  # 0 where unknown
        "label_mask": mask,
    }


def make_pipeline(ds: tf.data.Dataset, protocol: Union[str, aus_lib.Protocol], image_size: int = 256,
                  *, targets: Sequence[str] = ("labels",), batch_size: int = 32,
                  training: bool = False, augment: Optional[AugmentConfig] = None,
                  sample_au: Union[bool, Sequence[int]] = False, seed: Optional[int] = None,
                  deterministic: bool = False, cache: Union[bool, str] = False,
                  drop_remainder: Optional[bool] = None, shuffle_buffer: int = 2048,
                  heatmap_sigma: float = 2.0, prefetch: bool = True,
                  warp_backend: str = "opencv", map_stride: int = 4,
                  heatmap_scale: float = 1.0) -> tf.data.Dataset:
    """Batches of ``(features, targets)`` for ``protocol`` from raw examples (``load_split``).

    Args:
      ds: raw examples (``image`` uint8 or JPEG bytes, ``landmarks``, ``labels``, ``label_mask``).
      protocol: ``tfau.aus.Protocol`` or its name; its AUs give the heatmap / ROI tables.
      image_size: side ``S`` of the model's input.
      targets: which target tensors to emit, any of ``TARGET_KEYS`` (exactly those are emitted):
        ``labels``/``label_mask`` ``[B, A]``; ``heatmaps`` ``[B, S/r, S/r, P]`` Gaussian
        (sigma ``heatmap_sigma``) with peak = the AU's label, all-zero where the label is
        unknown; ``roi_maps``/``roi_mask`` ``[B, S/r, S/r, A]`` (ROI-GCN, active = label > 0);
        r = ``map_stride``.
      batch_size: examples per batch.
      training: shuffle, augment and sample ``au_index``; else keep order and only resize
        (or centre-crop when ``augment.crop_fraction < 1``).
      augment: ``AugmentConfig`` (a recipe's ``augmentation(dataset)``) or
        None. Random parts apply only when ``training``.
      sample_au: add ``features["au_index"]`` int32 ``[B]``: one AU index drawn uniformly per
        batch, repeated for every example (RE-Net trains one AU per batch; a per-example vector
        keeps the batch dimension that distribution strategies split). A sequence of AU indices
        draws from those only (AUs held out of training).
      seed: makes shuffling and augmentation reproducible (None: random each run).
      deterministic: fixed element order through parallel maps (default seed 0 if ``seed`` is
        None). Off, parallel maps may reorder elements for speed.
      cache: cache decoded (resized, uint8) examples in memory (True) or in a file (a path).
      drop_remainder: drop the last partial batch (default: ``training``).
      shuffle_buffer: examples in the shuffle buffer when training.
      heatmap_sigma: Gaussian sigma in map pixels.
      prefetch: add ``prefetch(AUTOTUNE)``.
      warp_backend: ``"opencv"`` (fast, ``tf.numpy_function``) or ``"tf"`` (pure graph) for
        the augmentation warp (``tfau.data.augment.warp_images``).
      map_stride: image side / map side of the target maps: the model's ``map_stride`` (4 for
        three deconvolution stages or HRNet, 8 for two).
      heatmap_scale: heatmap peak for intensity 1: the model's ``heatmap_scale``, which its
        decoder divides by (1: peak = intensity; the official SCC code's targets use 255).

    Returns:
      ``tf.data.Dataset`` of ``(features, targets)``: features ``image`` float32
      ``[B, S, S, 3]`` 0..255, ``landmarks`` float32 ``[B, 68, 2]`` in the ``S`` frame (after
      augmentation), ``au_index`` when ``sample_au``.
    """
    protocol = _protocol(protocol)
    tune_malloc()
    targets = tuple(targets)
    unknown = [t for t in targets if t not in TARGET_KEYS]
    if unknown:
        raise ValueError(f"unknown target(s) {unknown}; known: {TARGET_KEYS}")
    if not heatmap_scale > 0:
        raise ValueError(f"heatmap_scale must be > 0, got {heatmap_scale!r}")
    if not isinstance(map_stride, int) or isinstance(map_stride, bool) or map_stride < 1:
        raise ValueError(f"map_stride must be a positive int, got {map_stride!r}")
    if image_size % map_stride:
        raise ValueError(f"image_size must be a multiple of map_stride {map_stride} (maps are "
                         f"S/{map_stride}), got {image_size}")
    augment = augment if augment is not None else AugmentConfig()
    if deterministic and seed is None:
        seed = 0
    drop_remainder = training if drop_remainder is None else drop_remainder
    work_size = augment.source_size(image_size)
    map_size = image_size // map_stride
    n_aus = protocol.n_aus
    au_pool = list(range(n_aus)) if sample_au is True else [int(i) for i in (sample_au or ())]
    if sample_au is not False and sample_au is not None and (
            not au_pool or any(not 0 <= i < n_aus for i in au_pool)):
        raise ValueError(f"sample_au: AU indices in [0, {n_aus}), got {sample_au!r}")
    hm_spec = geometry.heatmap_spec(protocol) if "heatmaps" in targets else None
    roi_spec = geometry.roi_spec(protocol) if ("roi_maps" in targets or "roi_mask" in targets) else None

    options = tf.data.Options()
    options.deterministic = bool(deterministic)
    # Shuffle the small encoded records when not caching (a buffer of decoded faces would hold
    # ~200 kB each); with a cache, decode once and shuffle the cached faces.
    if training and not cache:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(lambda ex: _decode(ex, work_size), num_parallel_calls=AUTOTUNE,
                deterministic=deterministic or None)
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")
        if training:
            ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    # One [2] seed per batch for the stateless ops; a new stream every epoch (iteration).
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    ds = tf.data.Dataset.zip((ds, seeds))

    def batch_fn(batch, batch_seed):
        images = batch["image"]  # uint8
        landmarks = batch["landmarks"]
        if training and not augment.is_identity:
            images, landmarks, _ = augment_batch(images, landmarks, augment, batch_seed,
                                                 image_size, warp_backend)
        elif work_size != image_size:  # evaluation with a crop config: centre crop
            off = (work_size - image_size) // 2
            images = images[:, off:off + image_size, off:off + image_size, :]
            landmarks = landmarks - float(off)
        images = tf.cast(images, tf.float32)
        images = tf.ensure_shape(images, [None, image_size, image_size, 3])
        features: Dict[str, tf.Tensor] = {"image": images, "landmarks": landmarks}
        labels, mask = batch["labels"], batch["label_mask"]
        out: Dict[str, tf.Tensor] = {}
        if "labels" in targets:
            out["labels"] = labels
        if "label_mask" in targets:
            out["label_mask"] = mask
        if hm_spec is not None:
            out["heatmaps"] = targets_lib.heatmap_targets(
                landmarks, labels * mask, hm_spec, image_size=image_size, map_size=map_size,
                sigma=heatmap_sigma, scale=heatmap_scale)
        if roi_spec is not None:
            roi, roi_mask = targets_lib.roi_targets(landmarks, labels, roi_spec,
                                                    image_size=image_size, map_size=map_size,
                                                    label_mask=mask)
            if "roi_maps" in targets:
                out["roi_maps"] = roi
            if "roi_mask" in targets:
                out["roi_mask"] = roi_mask
        if sample_au and training:
            au_seed = tf.random.experimental.stateless_fold_in(tf.cast(batch_seed, tf.int64), 7)
            index = tf.random.stateless_uniform([], seed=au_seed, minval=0,
                                                maxval=len(au_pool), dtype=tf.int32)
            index = tf.gather(tf.constant(au_pool, tf.int32), index)
            features["au_index"] = tf.fill(tf.shape(images)[:1], index)
        return features, out

    ds = ds.map(batch_fn, num_parallel_calls=AUTOTUNE, deterministic=deterministic or None)
    if prefetch:
        ds = ds.prefetch(AUTOTUNE)
    return ds.with_options(options)


def model_pipeline_kwargs(model) -> Dict[str, Any]:
    """What a tfau model asks of ``make_pipeline``, from its declarations: ``targets`` (its
    ``required_targets``), ``sample_au`` (when it takes an ``au_index`` feature: True, or the
    AU indices it trains on, ``sample_au_indices``, when it holds some out), ``map_stride`` and
    ``heatmap_scale``. The one reading of a model's needs: the trainer and
    ``pipeline_for_model`` both use it."""
    sample_au = "au_index" in tuple(getattr(model, "required_features", ()))
    if sample_au and getattr(model, "sample_au_indices", None) is not None:
        sample_au = [int(i) for i in model.sample_au_indices]  # the others are held out
    return {"targets": tuple(getattr(model, "required_targets", ("labels", "label_mask"))),
            "sample_au": sample_au,
            "map_stride": int(getattr(model, "map_stride", 4)),
            "heatmap_scale": float(getattr(model, "heatmap_scale", 1.0))}


def pipeline_for_model(ds: tf.data.Dataset, model, protocol, image_size: int, **kwargs):
    """``make_pipeline`` with what the model asks for (``model_pipeline_kwargs``); ``kwargs``
    override it."""
    kwargs = {**model_pipeline_kwargs(model), **kwargs}
    return make_pipeline(ds, protocol, image_size, **kwargs)


def element_spec_summary(ds: tf.data.Dataset) -> Dict[str, Tuple]:
    """``{"features/image": (shape, dtype), ...}`` for logging and tests."""
    feats, targs = ds.element_spec
    out = {f"features/{k}": (tuple(v.shape), v.dtype.name) for k, v in feats.items()}
    out.update({f"targets/{k}": (tuple(v.shape), v.dtype.name) for k, v in targs.items()})
    return out
