"""TFDS split -> tf.data.Dataset of raw examples, building the dataset first when needed.

The builders live in ``tfau_datasets.<name>`` (the repository's ``datasets/`` folder). The
offline ``synthetic_au`` builds itself on first use; the licensed ones (``disfa``, ``bp4d``,
``bp4d_plus``) need the user's copy (``tfds build datasets/<name> --manual_dir ...``).
"""
from __future__ import annotations

import importlib
import os
from typing import Optional

import tensorflow as tf
import tensorflow_datasets as tfds

OFFLINE_DATASETS = ("synthetic_au",)


def builder_class(name: str):
    """The ``Builder`` class of ``tfau_datasets.<name>``."""
    try:
        module = importlib.import_module(f"tfau_datasets.{name}.{name}_dataset_builder")
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith(f"tfau_datasets.{name}"):
            raise ValueError(f"unknown dataset {name!r}: no tfau_datasets.{name} builder") from None
        raise
    return module.Builder


def get_builder(name: str, config: str, data_dir: Optional[str] = None):
    """The TFDS builder of ``name/config``.

    ``config`` is a name in ``Builder.BUILDER_CONFIGS`` or, for a custom config built earlier
    into ``data_dir`` (e.g. a test's tiny synthetic set), the name of its folder there.
    """
    cls = builder_class(name)
    if config in cls.builder_configs:
        return cls(config=config, data_dir=data_dir)
    root = os.path.join(os.path.expanduser(data_dir or tfds.core.constants.DATA_DIR), name, config)
    if tf.io.gfile.isdir(root):
        versions = sorted(v for v in tf.io.gfile.listdir(root) if v[:1].isdigit())
        if versions:
            return tfds.builder_from_directory(os.path.join(root, versions[-1].rstrip("/")))
    raise ValueError(f"{name} has no config {config!r} (known: {sorted(cls.builder_configs)}) "
                     f"and none was built under {os.path.dirname(root)!r}")


def _is_prepared(builder) -> bool:
    return tf.io.gfile.exists(os.path.join(builder.data_dir, "dataset_info.json"))


def prepare(builder, name: str, manual_dir: Optional[str] = None) -> None:
    """Builds ``builder`` if it is not on disk: offline datasets directly, licensed ones from
    ``manual_dir`` (else a ``FileNotFoundError`` that says which command to run)."""
    if _is_prepared(builder):
        return
    config = builder.builder_config.name if builder.builder_config else None
    if name not in OFFLINE_DATASETS and manual_dir is None:
        raise FileNotFoundError(
            f"{name}/{config} is not built under {builder.data_dir!r}. It is licensed data: "
            f"build it from your copy with `tfds build datasets/{name} --config {config} "
            f"--manual_dir <your copy> --data_dir <dir>` (or pass manual_dir=...), then pass "
            f"data_dir=<dir>.")
    download_config = tfds.download.DownloadConfig(manual_dir=manual_dir, try_download_gcs=False)
    builder.download_and_prepare(download_config=download_config)


def load_split(name: str, config: str, split: str, data_dir: Optional[str] = None,
               download: bool = True, *, shuffle_files: bool = False, decode_image: bool = True,
               manual_dir: Optional[str] = None,
               read_config: Optional[tfds.ReadConfig] = None) -> tf.data.Dataset:
    """Raw examples of ``name/config`` split ``split`` (any TFDS split string, e.g.
    ``"fold1+fold2"``), with the features of ``tfau_datasets.common.example_features``.

    Args:
      name: dataset folder name (``synthetic_au``, ``disfa``, ``bp4d``, ``bp4d_plus``).
      config: builder config (e.g. ``disfa_intensity``).
      split: TFDS split string.
      data_dir: TFDS data dir (default ``~/tensorflow_datasets``).
      download: build the dataset when missing (synthetic: renders it; licensed: needs
        ``manual_dir``). When False a missing dataset raises.
      shuffle_files: shuffle the order of the record files (training).
      decode_image: True gives ``image`` as uint8 ``[256, 256, 3]``; False leaves the JPEG bytes
        (``tfau.data.make_pipeline`` accepts both and decodes in its own parallel map).
      manual_dir: folder holding the licensed dataset's files.
      read_config: passed to ``as_dataset``.
    """
    builder = get_builder(name, config, data_dir)
    if download:
        prepare(builder, name, manual_dir)
    elif not _is_prepared(builder):
        raise FileNotFoundError(f"{name}/{config} is not built under {builder.data_dir!r}")
    decoders = None if decode_image else {"image": tfds.decode.SkipDecoding()}
    return builder.as_dataset(split=split, shuffle_files=shuffle_files, decoders=decoders,
                              read_config=read_config)
