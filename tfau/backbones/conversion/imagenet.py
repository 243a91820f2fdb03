"""``backbone_weights="imagenet"`` for the backbones keras.applications does not ship.

The converted weights live in one folder: ``$TFAU_WEIGHTS_DIR``, else ``~/.keras/tfau/``
(beside keras.applications' own ``~/.keras/models/``). :func:`imagenet_weights` looks there for,
in order:

1. the converted file (``hrnetv2_w18_imagenet.weights.h5``, ``resnet18_imagenet.weights.h5``);
2. a public PyTorch checkpoint under one of its usual names (the official
   ``hrnetv2_w18_imagenet_pretrained.pth``, torchvision's ``resnet18-f37072fd.pth``, or the
   timm ``.safetensors`` below), which it converts once into (1);
3. unless ``TFAU_NO_DOWNLOAD=1``: the timm safetensors file from the Hugging Face hub (NumPy
   only, no torch needed), downloaded into the folder, then converted.

Offline with nothing there it stops with one message naming the file to get and the
``tfau convert-weights`` command that converts it.
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
import urllib.error
import urllib.request
from typing import Optional, Tuple

from tfau.backbones.conversion.core import ConversionError, convert_checkpoint, converter

WEIGHTS_DIR_ENV = "TFAU_WEIGHTS_DIR"
NO_DOWNLOAD_ENV = "TFAU_NO_DOWNLOAD"
DOWNLOAD_TIMEOUT_S = 60


@dataclasses.dataclass(frozen=True)
class ImageNetSource:
    backbone: str
    converted: str  # file name of the converted weights in the weights folder
    checkpoints: Tuple[str, ...]  # names of public checkpoints looked for in the folder
    url: str  # a public checkpoint that needs no torch (safetensors)
    download_as: str  # its name in the folder
    what: str  # the checkpoint in words


SOURCES = {
    "hrnetv2_w18": ImageNetSource(
        backbone="hrnetv2_w18",
        converted="hrnetv2_w18_imagenet.weights.h5",
        checkpoints=(
            "hrnetv2_w18_imagenet_pretrained.pth",
            "hrnet_w18.ms_in1k.safetensors",
            "hrnet_w18.safetensors",
        ),
        url="https://huggingface.co/timm/hrnet_w18.ms_in1k/resolve/main/model.safetensors",
        download_as="hrnet_w18.ms_in1k.safetensors",
        what=(
            "the HRNet ImageNet checkpoint hrnetv2_w18_imagenet_pretrained.pth (HRNet-Image-"
            "Classification; the file the HRNet facial-landmark configs load) or timm's "
            "hrnet_w18.ms_in1k model.safetensors"
        ),
    ),
    "resnet18": ImageNetSource(
        backbone="resnet18",
        converted="resnet18_imagenet.weights.h5",
        checkpoints=("resnet18-f37072fd.pth", "resnet18.tv_in1k.safetensors"),
        url="https://huggingface.co/timm/resnet18.tv_in1k/resolve/main/model.safetensors",
        download_as="resnet18.tv_in1k.safetensors",
        what=(
            "torchvision's resnet18 IMAGENET1K_V1 weights: resnet18-f37072fd.pth "
            "(https://download.pytorch.org/models/resnet18-f37072fd.pth) or timm's "
            "resnet18.tv_in1k model.safetensors (the same weights)"
        ),
    ),
}


def weights_dir() -> str:
    """``$TFAU_WEIGHTS_DIR`` or ``~/.keras/tfau``."""
    return os.path.expanduser(os.environ.get(WEIGHTS_DIR_ENV) or os.path.join("~", ".keras", "tfau"))


def _source(backbone: str) -> ImageNetSource:
    try:
        return SOURCES[backbone]
    except KeyError:
        raise ValueError(
            f"no ImageNet weights source for backbone {backbone!r}; known: {sorted(SOURCES)}"
        ) from None


def _download(url: str, dest: str) -> None:
    """``url`` -> ``dest`` through a temporary file in the same folder (never half a file)."""
    folder = os.path.dirname(dest)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".download-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(
            url, timeout=DOWNLOAD_TIMEOUT_S
        ) as response:
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def offline_message(backbone: str, reason: str = "") -> str:
    src = _source(backbone)
    folder = weights_dir()
    dest = os.path.join(folder, src.converted)
    why = f" ({reason})" if reason else ""
    return (
        f"no ImageNet weights for {backbone} in {folder}{why}: get {src.what} (e.g. {src.url}), "
        f"then run `tfau convert-weights {backbone} <that file> {dest}`, or put it in {folder} "
        f"as {src.checkpoints[0]} or {src.download_as} and it is converted on first use "
        f"(folder: ${WEIGHTS_DIR_ENV}, default ~/.keras/tfau)"
    )


def imagenet_weights(backbone: str, model, download: Optional[bool] = None) -> str:
    """The path of the converted ImageNet ``.weights.h5`` of ``backbone`` (see module doc).

    Args:
      model: our ``backbone`` at width 1.0; a checkpoint found or downloaded is converted
        through it (its weights are overwritten).
      download: fetch the public checkpoint when nothing is in the folder (default: unless
        ``TFAU_NO_DOWNLOAD=1``).
    Raises:
      FileNotFoundError: nothing local and no download (the message says what to get and the
        command that converts it).
    """
    src = _source(backbone)
    converter(backbone)  # the converter exists
    folder = weights_dir()
    dest = os.path.join(folder, src.converted)
    if os.path.isfile(dest):
        return dest
    names = src.checkpoints + ((src.download_as,) if src.download_as not in src.checkpoints else ())
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return convert_checkpoint(backbone, path, dest, model)
    if download is None:
        download = os.environ.get(NO_DOWNLOAD_ENV, "").lower() not in ("1", "true", "yes")
    if not download:
        raise FileNotFoundError(offline_message(backbone, f"downloads off: {NO_DOWNLOAD_ENV}=1"))
    checkpoint = os.path.join(folder, src.download_as)
    try:
        _download(src.url, checkpoint)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise FileNotFoundError(offline_message(backbone, f"download failed: {e}")) from None
    try:
        return convert_checkpoint(backbone, checkpoint, dest, model)
    except ConversionError as e:
        raise ConversionError(f"the downloaded {checkpoint} does not convert: {e}") from None
