"""Batched, seeded data augmentation: one affine warp per image plus colour jitter.

Every geometric augmentation (horizontal flip, rotation, scale, translation, random crop) is
folded into one 2x3 affine per image, applied to a whole batch by a single
``ImageProjectiveTransformV3`` call; the same affine moves the landmarks, and flipped faces get
their landmarks permuted by ``tfau.geometry.FLIP_PERMUTATION`` so index 36 stays the outer corner
of the eye on the image's left (the anatomical meaning of every AU location is kept, because AU
points are recomputed from the permuted landmarks).

Randomness comes from stateless ops keyed by a per-batch seed, so a seeded pipeline gives the
same batches on every run and in every tf.data parallelism setting.

Coordinates: pixel centres at integers (``tfau.geometry``); an ``n``-pixel image spans
``-0.5 .. n - 0.5`` and its centre is ``(n - 1) / 2``.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from tfau import geometry



@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """What to randomise when ``training`` (all off by default = no augmentation).

    Each paper's settings per dataset live in its recipe (``tfau.recipes``,
    ``Recipe.augmentation(dataset)``).

    Attributes:
      flip: horizontal flip with probability 0.5 (landmarks permuted, labels unchanged).
      rotation: max in-plane rotation in degrees (uniform in ``[-rotation, rotation]``).
      scale: max relative zoom (uniform in ``[1 - scale, 1 + scale]``).
      translation: max shift as a fraction of the image side (uniform, per axis).
      brightness: max brightness change as a fraction of 255 (additive).
      contrast: max relative contrast change (factor in ``[1 - c, 1 + c]`` about the mean).
      saturation: max relative saturation change (blend with the grey image).
      crop_fraction: < 1 takes a random ``image_size`` crop of the face resized to
        ``image_size / crop_fraction`` (RE-Net: 224 from 256 is 0.875). At evaluation the same
        config centre-crops, so train and test see faces at the same scale.
      fill_mode: how pixels warped in from outside are filled: ``"constant"`` (black, like
        the aligned crops' borders), ``"nearest"`` or ``"reflect"``.
    """

    flip: bool = False
    rotation: float = 0.0
    scale: float = 0.0
    translation: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    crop_fraction: float = 1.0
    fill_mode: str = "constant"

    def __post_init__(self):
        if not 0.0 < self.crop_fraction <= 1.0:
            raise ValueError(f"crop_fraction must be in (0, 1], got {self.crop_fraction}")
        if self.fill_mode not in ("constant", "nearest", "reflect", "wrap"):
            raise ValueError(f"fill_mode must be constant/nearest/reflect/wrap, got {self.fill_mode!r}")
        for name in ("rotation", "scale", "translation", "brightness", "contrast", "saturation"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.scale >= 1:
            raise ValueError(f"scale must be < 1, got {self.scale}")

    @property
    def geometric(self) -> bool:
        return bool(self.flip or self.rotation or self.scale or self.translation
                    or self.crop_fraction < 1.0)

    @property
    def photometric(self) -> bool:
        return bool(self.brightness or self.contrast or self.saturation)

    @property
    def is_identity(self) -> bool:
        return not (self.geometric or self.photometric)

    def source_size(self, image_size: int) -> int:
        """Side the decoded face is resized to before cropping ``image_size`` out of it."""
        return int(round(image_size / self.crop_fraction))


def _uniform(shape, seed, lo, hi):
    return tf.random.stateless_uniform(shape, seed=seed, minval=lo, maxval=hi, dtype=tf.float32)


def sample_params(batch: tf.Tensor, config: AugmentConfig, seed: tf.Tensor,
                  in_size: int, out_size: int) -> Dict[str, tf.Tensor]:
    """Per-image random parameters ``[B]`` for a batch of ``batch`` images.

    ``seed`` is a ``[2]`` integer tensor; each parameter uses its own derived seed.
    """
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=8)
    shape = tf.reshape(batch, [1])
    zeros = tf.zeros(shape, tf.float32)
    angle = (_uniform(shape, seeds[0], -config.rotation, config.rotation) * (np.pi / 180.0)
             if config.rotation else zeros)
    scale = (_uniform(shape, seeds[1], 1.0 - config.scale, 1.0 + config.scale)
             if config.scale else zeros + 1.0)
    shift = config.translation * out_size + (in_size - out_size) / 2.0  # + random crop offset
    tx = _uniform(shape, seeds[2], -shift, shift) if shift else zeros
    ty = _uniform(shape, seeds[3], -shift, shift) if shift else zeros
    flip = (_uniform(shape, seeds[4], 0.0, 1.0) < 0.5) if config.flip else tf.zeros(shape, tf.bool)
    b = config.brightness * 255.0
    return {
        "angle": angle, "scale": scale, "tx": tx, "ty": ty, "flip": flip,
        "brightness": _uniform(shape, seeds[5], -b, b) if b else zeros,
        "contrast": (_uniform(shape, seeds[6], 1.0 - config.contrast, 1.0 + config.contrast)
                     if config.contrast else zeros + 1.0),
        "saturation": (_uniform(shape, seeds[7], 1.0 - config.saturation, 1.0 + config.saturation)
                       if config.saturation else zeros + 1.0),
    }


def affine_matrices(params: Dict[str, tf.Tensor], in_size: int, out_size: int):
    """Forward affines ``p_out = A (p_in - c_in) + c_out + t``: returns ``(A [B,2,2], t' [B,2])``
    with ``t' = c_out + t - A c_in``, so ``p_out = A p_in + t'``.

    ``A = scale * R(angle) * diag(-1 if flip else 1, 1)``: the flip mirrors about the input's
    vertical centre line, i.e. ``x -> (in_size - 1) - x``.
    """
    cos, sin = tf.cos(params["angle"]), tf.sin(params["angle"])
    s = params["scale"]
    f = tf.where(params["flip"], -1.0, 1.0)
    a = tf.stack([tf.stack([s * cos * f, -s * sin], -1),
                  tf.stack([s * sin * f, s * cos], -1)], -2)  # [B, 2, 2]
    c_in = (in_size - 1) / 2.0
    c_out = (out_size - 1) / 2.0
    t = tf.stack([params["tx"], params["ty"]], -1) + c_out - tf.reduce_sum(a, -1) * c_in
    return a, t


_CV2_BORDER = {"constant": 0, "nearest": 1, "reflect": 2, "wrap": 3}  # cv2.BORDER_* values


def _cv2_warp_batch(images: np.ndarray, matrices: np.ndarray, out_size: int, border: int):
    import cv2  # imported lazily: only this backend needs it

    out = np.empty((images.shape[0], out_size, out_size, images.shape[-1]), images.dtype)
    for i in range(images.shape[0]):
        cv2.warpAffine(images[i], matrices[i], (out_size, out_size), dst=out[i],
                       flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)
    return out


def warp_images(images: tf.Tensor, a: tf.Tensor, t: tf.Tensor, out_size: int,
                fill_mode: str = "constant", backend: str = "opencv") -> tf.Tensor:
    """Warps ``images [B, H, W, C]`` by the forward affines (bilinear) to ``out_size``.

    Backends: ``"opencv"`` (``cv2.warpAffine`` through ``tf.numpy_function``; about 4x faster
    on CPU, keeps the dtype) or ``"tf"`` (``ImageProjectiveTransformV3``: pure graph, e.g. for
    tf.data service or export; output float32). Both sample bilinearly with pixel centres at
    integer coordinates and give the same image up to rounding.
    """
    if backend == "opencv":
        matrices = tf.concat([a, t[:, :, None]], axis=2)  # [B, 2, 3] forward
        out = tf.numpy_function(
            lambda im, m: _cv2_warp_batch(im, m.astype(np.float64), out_size,
                                          _CV2_BORDER[fill_mode]),
            [images, matrices], images.dtype, stateful=False)
        channels = images.shape[-1]
        return tf.ensure_shape(out, [None, out_size, out_size, channels])
    if backend != "tf":
        raise ValueError(f"backend must be 'opencv' or 'tf', got {backend!r}")
    images = tf.cast(images, tf.float32)
    inv = tf.linalg.inv(a)  # [B, 2, 2]
    inv_t = -tf.linalg.matvec(inv, t)  # p_in = inv p_out + inv_t
    batch = tf.shape(images)[0]
    transforms = tf.concat([inv[:, 0, :], inv_t[:, :1], inv[:, 1, :], inv_t[:, 1:],
                            tf.zeros([batch, 2], tf.float32)], axis=1)  # [B, 8]
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.constant([out_size, out_size]),
        fill_value=tf.constant(0.0), interpolation="BILINEAR", fill_mode=fill_mode.upper())


def warp_landmarks(landmarks: tf.Tensor, a: tf.Tensor, t: tf.Tensor,
                   flip: Optional[tf.Tensor] = None) -> tf.Tensor:
    """``[B, 68, 2]`` through the forward affines; flipped faces permuted to keep indices' meaning."""
    out = tf.einsum("bij,bkj->bki", a, landmarks) + t[:, None, :]
    if flip is not None:
        permuted = tf.gather(out, geometry.FLIP_PERMUTATION, axis=1)
        out = tf.where(flip[:, None, None], permuted, out)
    return out


def jitter_colour(images: tf.Tensor, params: Dict[str, tf.Tensor]) -> tf.Tensor:
    """Saturation (blend with the grey image), contrast (about each image's mean grey) and
    brightness (additive), in that order, on 0..255; fused into one affine per pixel:
    ``x' = c s x + c (1 - s) grey + (1 - c) mean + b`` (fewer full-size passes on CPU)."""
    images = tf.cast(images, tf.float32)
    grey = tf.reduce_mean(images, axis=-1, keepdims=True)
    mean = tf.reduce_mean(grey, axis=[1, 2, 3])
    con, sat, bright = params["contrast"], params["saturation"], params["brightness"]
    a = (con * sat)[:, None, None, None]
    offset = (con * (1.0 - sat))[:, None, None, None] * grey + \
        ((1.0 - con) * mean + bright)[:, None, None, None]
    return tf.clip_by_value(a * images + offset, 0.0, 255.0)


def augment_batch(images: tf.Tensor, landmarks: tf.Tensor, config: AugmentConfig,
                  seed: tf.Tensor, out_size: int, backend: str = "opencv"):
    """Augments a batch: ``images [B, T, T, 3]`` uint8 or float 0..255
    (``T = config.source_size``), ``landmarks [B, 68, 2]`` in the ``T`` frame -> float32 images
    ``[B, S, S, 3]`` and landmarks in the ``S = out_size`` frame, plus the sampled parameters."""
    in_size = int(images.shape[1]) if images.shape[1] is not None else None
    if in_size is None:
        raise ValueError("augment_batch needs a static image size")
    params = sample_params(tf.shape(images)[0], config, seed, in_size, out_size)
    if config.geometric or in_size != out_size:
        a, t = affine_matrices(params, in_size, out_size)
        images = warp_images(images, a, t, out_size, config.fill_mode, backend)
        landmarks = warp_landmarks(landmarks, a, t, params["flip"] if config.flip else None)
    images = tf.cast(images, tf.float32)
    if config.photometric:
        images = jitter_colour(images, params)
    return images, landmarks, params


# ------------------------------------------------------------------------------ oversampling


def oversample_columns(protocol_aus, aus) -> list:
    """Column indices of AU numbers ``aus`` among a protocol's ``protocol_aus`` (AUs the
    protocol lacks are skipped); a ValueError when ``aus`` is given but none is there."""
    protocol_aus = [int(a) for a in protocol_aus]
    cols = [protocol_aus.index(int(a)) for a in aus if int(a) in protocol_aus]
    if aus and not cols:
        raise ValueError(f"oversample AUs {list(aus)}: none is an AU of this protocol "
                         f"{protocol_aus}")
    return cols


def _positive_in(labels, masks, columns):
    return ((labels[..., columns] > 0) & (masks[..., columns] > 0)).any(axis=-1)


def oversampled_size(labels, masks, columns, copies: int = 1) -> int:
    """Examples ``oversample_positives`` yields for raw ``labels``/``masks`` ``[N, A]``."""
    labels, masks = np.asarray(labels), np.asarray(masks)
    if not len(columns):
        return int(len(labels))
    return int(len(labels) + copies * _positive_in(labels, masks, list(columns)).sum())


def oversample_positives(ds: tf.data.Dataset, columns, copies: int = 1) -> tf.data.Dataset:
    """Raw examples, each repeated ``1 + copies`` times in a row when its label is positive (and
    known) in any of ``columns``; the rest once. Class-imbalance "duplication" of rare AUs (shuffle
    afterwards; ``make_pipeline`` does when training)."""
    columns = [int(c) for c in columns]
    if not columns or copies <= 0:
        return ds

    def repeat(ex):
        labels = tf.gather(ex["labels"], columns)
        known = tf.gather(ex["label_mask"], columns)
        hit = tf.reduce_any((labels > 0) & (known > 0))
        n = tf.where(hit, tf.constant(1 + int(copies), tf.int64), tf.constant(1, tf.int64))
        return tf.data.Dataset.from_tensors(ex).repeat(n)

    return ds.flat_map(repeat)
