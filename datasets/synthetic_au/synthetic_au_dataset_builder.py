"""synthetic_au: rendered faces with known AU intensities; the offline default dataset of tfau.

Needs no download and no network: ``tfds build datasets/synthetic_au`` renders it (the default
config, about 3.8k frames, in about a minute on 2 cores). Examples have the features of every
tfau dataset (``tfau_datasets.common.example_features``), so the same pipeline, models and
metrics run on it as on BP4D and DISFA.

Configs mirror the protocols (``tfau.aus.PROTOCOLS``): ``disfa_intensity`` (default),
``bp4d_intensity``, ``bp4d_occurrence``, ``disfa_occurrence`` and ``*_large`` versions with
2.5x the identities and longer sequences. Splits ``fold1``..``fold3`` are subject-exclusive
thirds (identity ``i`` in ``fold{i % 3 + 1}``).
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import os
from typing import Dict, Optional

from absl import logging

import tensorflow_datasets as tfds

from tfau import aus as aus_lib
from tfau_datasets import build_lib
from tfau_datasets import common
from tfau_datasets.synthetic_au import generate, render

_DESCRIPTION = """
Procedurally rendered 256x256 aligned faces whose Action Unit intensities (0-5) are known.
Identities differ in face shape, skin tone, hair, lighting, background and small head pose;
each has several sequences whose AU intensities follow smooth onset-apex-offset trajectories of
prototypical expressions (happiness 6+12+25, surprise 1+2+5+26, sadness 1+4+15, anger
4+5+7+23, disgust 9+10+17, fear 1+2+4+5+20+26, ...) plus independent AUs. Each AU moves the 68
landmarks FACS-style and adds the appearance cue a coder looks for (furrows, wrinkles, bulges,
dimples), both growing with intensity. The frame shows the integer level the label holds.
"""

WORKERS_ENV = "TFAU_SYNTHETIC_WORKERS"


@dataclasses.dataclass
class SyntheticAuConfig(tfds.core.BuilderConfig):
    """A protocol (AU list + task) and a size.

    Attributes:
      protocol: key of ``tfau.aus.PROTOCOLS`` whose AUs and task the labels follow.
      n_identities, n_sequences, n_frames: identities x sequences per identity x frames per
        sequence.
      threshold: occurrence threshold on the rendered intensity (``None``: the protocol's,
        or 1 for protocols with native occurrence labels).
      unknown_rate: fraction of (frame, AU) labels marked "not coded" (``label_mask`` 0,
        label 0), as BP4D's 9s; exercises the masking code.
      seed: base seed; the same seed renders the same faces in every config.
    """

    protocol: str = "disfa_intensity"
    n_identities: int = 48
    n_sequences: int = 8
    n_frames: int = 10
    threshold: Optional[float] = None
    unknown_rate: float = 0.0
    seed: int = 0

    @property
    def size(self) -> generate.Size:
        return generate.Size(self.n_identities, self.n_sequences, self.n_frames)


def _config(name: str, protocol: str, large: bool, **kwargs) -> SyntheticAuConfig:
    p = aus_lib.get_protocol(protocol)
    size = dict(n_identities=120, n_sequences=10, n_frames=12) if large else {}
    cfg = SyntheticAuConfig(name=name, protocol=protocol, **size, **kwargs)
    cfg.description = (f"{p.n_aus} AUs {p.aus}, {p.task}; {cfg.n_identities} identities x "
                       f"{cfg.n_sequences} sequences x {cfg.n_frames} frames = "
                       f"{cfg.size.n_examples} examples")
    return cfg


BUILDER_CONFIGS_LIST = []
for _large in (False, True):
    for _protocol, _kwargs in (("disfa_intensity", {}), ("bp4d_intensity", {"unknown_rate": 0.02}),
                               ("bp4d_occurrence", {"unknown_rate": 0.02}),
                               ("disfa_occurrence", {})):
        BUILDER_CONFIGS_LIST.append(
            _config(_protocol + ("_large" if _large else ""), _protocol, _large, **_kwargs))


def default_workers(n_examples: int) -> int:
    """Render processes: $TFAU_SYNTHETIC_WORKERS, else all cores (<= 4) for big configs."""
    env = os.environ.get(WORKERS_ENV)
    if isinstance(env, str) and env.strip():  # (tfds' test case mocks parts of `os`)
        return max(1, int(env))
    if n_examples < 600:
        return 1
    cpus = os.cpu_count()
    return max(1, min(cpus if isinstance(cpus, int) else 1, 4))


class Builder(build_lib.BuilderMixin, tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for synthetic_au."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = BUILDER_CONFIGS_LIST

    @property
    def protocol(self) -> aus_lib.Protocol:
        return aus_lib.get_protocol(self.builder_config.protocol)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=_DESCRIPTION,
            features=common.example_features(self.protocol),
            supervised_keys=None,
            homepage="https://github.com/tfau/tfau",
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # nothing to download
        cfg = self.builder_config
        return {split: self._generate_examples(part, split)
                for split, part in zip(generate.FOLD_SPLITS, generate.folds(cfg.n_identities))}

    def _generate_examples(self, subjects, split: str = ""):
        cfg = self.builder_config
        identities = [int(s[1:]) - 1 for s in subjects]
        spec = generate.ExampleSpec(protocol_name=cfg.protocol, n_frames=cfg.n_frames,
                                    seed=cfg.seed, threshold=cfg.threshold,
                                    unknown_rate=cfg.unknown_rate)
        if self._use_beam:  # one element per sequence, spread over the Beam workers
            units = [(f"{render.subject_name(i)}/{render.sequence_name(q)}",
                      functools.partial(_sequence_unit, spec, i, q))
                     for i in identities for q in range(cfg.n_sequences)]
            return self._run_units(split, units)
        # Plain build: the render pool (default_workers), with progress and the same summary.
        workers = default_workers(cfg.size.n_examples)
        return self._local(split, generate.iter_examples(spec, identities, cfg.n_sequences,
                                                         workers=workers),
                           len(identities) * cfg.n_sequences, len(identities) * cfg.n_sequences
                           * cfg.n_frames)

    def _local(self, split, examples, n_sequences: int, n_frames: int):
        name = f"{self.name}/{self.builder_config.name}"
        progress = build_lib.Progress(f"{name} {split}", n_sequences, n_frames)
        per_seq: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        try:
            for key, ex in examples:
                per_seq[f"{ex['subject']}/{ex['sequence']}"].update(examples=1, rendered=1)
                progress.frame()
                yield key, ex
        finally:
            progress.units = len(per_seq)
            progress.log()
            totals = collections.Counter()
            for counts in per_seq.values():
                totals.update(counts)
            summary = build_lib.split_summary(totals, per_seq, lambda u: u.split("/", 1)[0])
            logging.info("%s", build_lib.format_summary(name, split, summary))
            self._record_summary(split, summary)


def _sequence_unit(spec: generate.ExampleSpec, identity: int, sequence: int,
                   tally: build_lib.Tally):
    """One rendered sequence (a Beam build unit)."""
    examples = generate.sequence_examples(spec, identity, sequence)
    tally.add("examples", len(examples))
    tally.add("rendered", len(examples))
    yield from examples


__all__ = ["Builder", "SyntheticAuConfig", "render"]
