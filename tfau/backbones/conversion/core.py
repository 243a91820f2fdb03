"""Reading PyTorch checkpoints and writing them into our Keras backbones, tensor by tensor.

A converter is a :class:`BackboneSpec`: which PyTorch module prefix feeds each Conv2D /
BatchNormalization layer of our backbone (``hrnet.py``, ``resnet.py`` here; they import no
builder, so the builders can load checkpoints without an import cycle). The
conversion is all-or-nothing: every tensor of the checkpoint must be mapped (or belong to a part
the backbone does not have, e.g. the classifier), every layer of the backbone must get its
tensors, and every shape must fit; otherwise :class:`ConversionError` names the tensors and
nothing is written or assigned.

Layouts: a PyTorch conv weight ``[out, in, kh, kw]`` is a Keras kernel ``[kh, kw, in, out]``;
BatchNorm ``weight, bias, running_mean, running_var`` are Keras ``gamma, beta, moving_mean,
moving_variance`` (both frameworks compute ``(x - mean) / sqrt(var + eps) * gamma + beta``, and
our backbones use PyTorch's epsilon 1e-5). ``num_batches_tracked`` has no Keras counterpart.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, Dict, List, Mapping, Sequence, Tuple

import numpy as np

from tfau.backbones.conversion import hrnet as hrnet_map
from tfau.backbones.conversion import resnet as resnet_map

CHECKPOINT_EXTS = (".pth", ".pt", ".bin", ".safetensors")
KERAS_WEIGHTS_EXT = ".weights.h5"
# Attributes written into a converted .weights.h5 (read back by load_local_weights).
ATTR_BACKBONE = "tfau_backbone"
ATTR_WIDTH = "tfau_width"
ATTR_SOURCE = "tfau_source"
_MAX_LISTED = 8


class ConversionError(ValueError):
    """A checkpoint that does not map onto the backbone (names the tensors and the file)."""


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """How one PyTorch network maps onto one of our backbones.

    Attributes:
      backbone: our backbone name (``"hrnetv2_w18"``, ``"resnet18"``).
      layer_map: ``layer_map() -> [(keras_layer_name, kind, torch_prefix)]``, ``kind`` one of
        ``"conv"`` and ``"bn"``.
      ignored_prefixes: state-dict prefixes of parts our backbone does not have (the ImageNet
        classifier); everything else must be mapped.
      reference: where the PyTorch names come from (for messages).
    """

    backbone: str
    layer_map: Callable[[], List[Tuple[str, str, str]]]
    ignored_prefixes: Tuple[str, ...]
    reference: str


_SPECS: Dict[str, BackboneSpec] = {
    "hrnetv2_w18": BackboneSpec(
        backbone="hrnetv2_w18",
        layer_map=hrnet_map.layer_map,
        ignored_prefixes=hrnet_map.IGNORED_PREFIXES,
        reference=hrnet_map.REFERENCE,
    ),
    "resnet18": BackboneSpec(
        backbone="resnet18",
        layer_map=resnet_map.layer_map,
        ignored_prefixes=resnet_map.IGNORED_PREFIXES,
        reference=resnet_map.REFERENCE,
    ),
}
CONVERTIBLE = tuple(sorted(_SPECS))


def converter(backbone: str) -> BackboneSpec:
    """The :class:`BackboneSpec` of ``backbone`` (``ValueError`` naming the known ones)."""
    try:
        return _SPECS[backbone]
    except KeyError:
        raise ValueError(
            f"no checkpoint converter for backbone {backbone!r}; known: {list(CONVERTIBLE)}"
        ) from None


# ------------------------------------------------------------------------------------ reading


def _unwrap(obj, path):
    """A training checkpoint may nest the weights (``{"state_dict": ...}``, ``{"model": ...}``)."""
    for key in ("state_dict", "model", "model_state_dict", "module"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not obj:
        raise ConversionError(f"{path}: no state dict (a mapping of tensor names) inside")
    # DataParallel checkpoints prefix every name with "module.".
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def read_state_dict(path: str) -> Dict[str, np.ndarray]:
    """``{name: float32 array}`` of a ``.pth``/``.pt``/``.bin`` (torch) or ``.safetensors`` file.

    ``.safetensors`` needs only the ``safetensors`` package (NumPy); the pickled formats need
    ``torch`` (``pip install 'tfau[convert]'``) and are loaded with ``weights_only=True``.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ext = os.path.splitext(path)[1].lower()
    if ext not in CHECKPOINT_EXTS:
        raise ConversionError(
            f"{path}: not a PyTorch checkpoint (expected one of {CHECKPOINT_EXTS})"
        )
    if ext == ".safetensors":
        try:
            from safetensors.numpy import load_file
        except ImportError:
            raise ConversionError(
                f"reading {path} needs the safetensors package: pip install safetensors "
                "(or pip install 'tfau[convert]')"
            ) from None
        try:
            raw = load_file(path)
        except Exception as e:  # safetensors raises its own error types
            raise ConversionError(f"{path}: not a readable safetensors file ({e})") from None
        return {k: np.asarray(v, np.float32) for k, v in raw.items()}
    try:
        import torch
    except ImportError:
        raise ConversionError(
            f"reading {path} needs PyTorch: pip install 'tfau[convert]' (or convert the "
            ".safetensors version of the checkpoint, which needs only safetensors)"
        ) from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ConversionError(f"{path}: torch cannot load it as a checkpoint ({e})") from None
    state = _unwrap(obj, path)
    out = {}
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            raise ConversionError(f"{path}: entry {k!r} is a {type(v).__name__}, not a tensor")
        out[k] = v.detach().cpu().float().numpy()
    return out


# ------------------------------------------------------------------------------------ mapping


def _listing(names: Sequence[str]) -> str:
    names = list(names)
    shown = ", ".join(names[:_MAX_LISTED])
    more = len(names) - _MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _arrays_for(kind: str, prefix: str, state: Mapping[str, np.ndarray], layer):
    """``[(torch name, Keras-layout array)]`` in the order of ``layer.weights``."""
    if kind == "conv":
        names = [f"{prefix}.weight"] + ([f"{prefix}.bias"] if layer.use_bias else [])
        arrays = [np.transpose(state[names[0]], (2, 3, 1, 0)) if names[0] in state else None]
        if layer.use_bias:
            arrays.append(state.get(names[1]))
    elif kind == "bn":
        names = [f"{prefix}.{s}" for s in ("weight", "bias", "running_mean", "running_var")]
        arrays = [state.get(n) for n in names]
    else:
        raise ValueError(f"unknown layer kind {kind!r}")
    return list(zip(names, arrays))


def plan(spec: BackboneSpec, state: Mapping[str, np.ndarray], model, source: str = "checkpoint"):
    """``{keras layer name: [arrays]}`` for every mapped layer, or :class:`ConversionError`.

    Checks, before anything is assigned: every tensor is used (or ignored by prefix), none is
    missing, every shape fits, and every weighted layer of ``model`` is covered.
    """
    used, missing, bad_shape, assignments = set(), [], [], {}
    mapped_layers = set()
    for layer_name, kind, prefix in spec.layer_map():
        try:
            layer = model.get_layer(layer_name)
        except ValueError:
            raise ConversionError(
                f"internal: the {spec.backbone} mapping names a layer {layer_name!r} our model "
                "does not have"
            ) from None
        mapped_layers.add(layer_name)
        pairs = _arrays_for(kind, prefix, state, layer)
        values = []
        for (name, array), var in zip(pairs, layer.weights):
            if array is None:
                missing.append(name)
                continue
            used.add(name)
            if tuple(array.shape) != tuple(var.shape):
                torch_shape = tuple(state[name].shape)
                bad_shape.append(
                    f"{name} {torch_shape} -> {layer_name}/{var.name} needs {tuple(var.shape)}"
                    + (" (Keras layout [kh, kw, in, out])" if kind == "conv" else "")
                )
            values.append(array)
        assignments[layer_name] = values
    unmapped = sorted(
        k
        for k in state
        if k not in used
        and not k.endswith("num_batches_tracked")
        and not k.startswith(spec.ignored_prefixes)
    )
    uncovered = sorted(
        l.name for l in model.layers if l.weights and l.name not in mapped_layers
    )
    problems = []
    if missing:
        problems.append(f"{len(missing)} tensor(s) missing: {_listing(missing)}")
    if unmapped:
        problems.append(f"{len(unmapped)} tensor(s) not mapped: {_listing(unmapped)}")
    if bad_shape:
        problems.append(f"{len(bad_shape)} tensor(s) of the wrong shape: {_listing(bad_shape)}")
    if uncovered:
        problems.append(f"internal: layers without a mapping: {_listing(uncovered)}")
    if problems:
        raise ConversionError(
            f"{source} does not map onto {spec.backbone} ({spec.reference}): "
            + "; ".join(problems)
            + ". Nothing was converted."
        )
    return assignments


def assign(spec: BackboneSpec, state: Mapping[str, np.ndarray], model, source="checkpoint"):
    """Checks the whole mapping (:func:`plan`), then sets every mapped layer's weights."""
    assignments = plan(spec, state, model, source)
    for layer_name, values in assignments.items():
        model.get_layer(layer_name).set_weights(values)
    return model


def convert_checkpoint(backbone: str, source: str, dest: str, model) -> str:
    """Converts a PyTorch checkpoint file into a Keras ``.weights.h5`` of our backbone.

    ``model``: our backbone at width 1.0 (any input size; its weights are overwritten). The file
    is written under a temporary name and renamed, so ``dest`` is either the whole converted
    model or untouched. It records the backbone, width and source as HDF5 attributes
    (``tfau_backbone``, ``tfau_width``, ``tfau_source``) so a mismatched load is named clearly.
    Returns ``dest``.
    """
    dest = os.fspath(dest)
    if not dest.endswith(KERAS_WEIGHTS_EXT):
        raise ConversionError(f"DEST must end with {KERAS_WEIGHTS_EXT} (Keras), got {dest}")
    spec = converter(backbone)
    state = read_state_dict(source)
    assign(spec, state, model, source=os.fspath(source))
    folder = os.path.dirname(os.path.abspath(dest))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{os.path.basename(dest)}")
    try:
        model.save_weights(tmp)
        import h5py

        with h5py.File(tmp, "a") as f:
            f.attrs[ATTR_BACKBONE] = spec.backbone
            f.attrs[ATTR_WIDTH] = 1.0
            f.attrs[ATTR_SOURCE] = os.path.basename(os.fspath(source))
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


def load_checkpoint_into(model, backbone: str, path: str):
    """Assigns a PyTorch checkpoint to an already built backbone ``model`` (all or nothing)."""
    spec = converter(backbone)
    return assign(spec, read_state_dict(path), model, source=os.fspath(path))


def weights_file_attrs(path: str) -> Dict[str, object]:
    """The ``tfau_*`` attributes of a ``.weights.h5`` (empty for a plain Keras weights file)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return {k: (v.decode() if isinstance(v, bytes) else v)
                    for k, v in f.attrs.items() if k.startswith("tfau_")}
    except OSError as e:
        raise ValueError(f"{path} is not a readable HDF5 weights file ({e})") from None

