"""How every tfau builder runs its work: per-sequence units, locally or fanned out on Apache Beam,
with progress in the log and a build summary in the log and in the dataset's metadata.

A builder cuts each split into *units* (one sequence, or one subject where a sequence is a whole
video): ``(unit_id, fn)`` where ``fn(tally)`` yields ``(key, example)`` and counts what happened to
each frame in ``tally`` (a :class:`Tally`). ``fn`` must be picklable (a ``functools.partial`` of a
module-level function over picklable arguments) because under Beam it runs in another process or
on another machine.

* Plain build (no ``--beam_pipeline_options`` / ``beam_runner``): :func:`local_generator` runs the
  units in order in this process, exactly as before, logging progress (frames done, rate,
  estimate) per split.
* Beam build: TFDS lets ``_generate_examples`` return a ``beam.PTransform``
  (https://www.tensorflow.org/datasets/beam_datasets); :func:`beam_transform` returns
  ``Create(units) | Reshuffle | FlatMap(run unit)``, so sequences spread over the workers
  (``direct_num_workers`` of the DirectRunner, or a Dataflow / Flink / Spark cluster). The tallies
  travel back as Beam counters (namespace ``tfau_build/<split>``) and are read from the pipeline
  result.

Either way :class:`BuilderMixin` stores the same summary under ``info.metadata["build_summary"]``
(``metadata.json`` beside the dataset): per split the subjects, sequences, frames kept, frames
dropped by reason, every counter, and the landmark source of each sequence.
"""
from __future__ import annotations

import collections
import functools
import importlib
import time
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

from absl import logging

import tensorflow_datasets as tfds

KeyExample = Tuple[str, dict]
Unit = Tuple[str, Callable[["Tally"], Iterable[KeyExample]]]

NAMESPACE = "tfau_build"
EXAMPLES = "examples"
# Tally keys that count frames left out of the dataset (the summary's "frames dropped").
DROPPED_PREFIXES = ("skipped", "frames_dropped", "frames_labelled_beyond_video",
                    "frames_labelled_without_image", "undecodable_video_frames")
# Tally keys saying where an example's landmarks came from.
SOURCE_KEYS = {"from_landmarks": "dataset file", "redetected": "re-detected",
               "rendered": "rendered"}
_SEQ = "seq:"


class Tally:
    """Counts what happened to frames (kept, re-detected, skipped, ...) and logs a summary."""

    def __init__(self, name: str):
        self.name = name
        self.counts: collections.Counter = collections.Counter()

    def add(self, key: str, n: int = 1) -> None:
        if n:
            self.counts[key] += int(n)

    def __getitem__(self, key: str) -> int:
        return self.counts[key]

    def update(self, other: "Tally") -> None:
        self.counts.update(other.counts)

    def summary(self) -> str:
        body = ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items())) or "nothing"
        return f"{self.name}: {body}"

    def log(self) -> None:
        logging.info("%s", self.summary())


def landmark_source(counts: Mapping[str, int]) -> str:
    """'dataset file', 're-detected', 'rendered', a mix ('dataset file 40, re-detected 2') or
    'none' (no example kept)."""
    parts = [(SOURCE_KEYS[k], int(counts.get(k, 0))) for k in SOURCE_KEYS if counts.get(k, 0)]
    if not parts:
        return "none"
    if len(parts) == 1:
        return parts[0][0]
    return ", ".join(f"{name} {n}" for name, n in parts)


def split_summary(counts: Mapping[str, int], sequences: Mapping[str, Mapping[str, int]],
                  subject_of: Callable[[str], str]) -> dict:
    """JSON-able summary of one split from its total counts and per-sequence counts."""
    dropped = {k: int(v) for k, v in sorted(counts.items())
               if v and k.startswith(DROPPED_PREFIXES)}
    return {
        "subjects": len({subject_of(s) for s in sequences}),
        "sequences": len(sequences),
        "frames_kept": int(counts.get(EXAMPLES, 0)),
        "frames_dropped": sum(dropped.values()),
        "frames_dropped_by_reason": dropped,
        "counts": {k: int(v) for k, v in sorted(counts.items()) if v},
        "landmark_source": {s: landmark_source(c) for s, c in sorted(sequences.items())},
    }


def format_summary(name: str, split: str, summary: Mapping) -> str:
    sources = collections.Counter(summary["landmark_source"].values())
    return (f"{name} {split}: {summary['subjects']} subjects, {summary['sequences']} sequences, "
            f"{summary['frames_kept']} frames kept, {summary['frames_dropped']} dropped "
            f"{summary['frames_dropped_by_reason'] or ''}; landmarks per sequence: "
            f"{dict(sorted(sources.items()))}; all counts {summary['counts']}")


class Progress:
    """Logs frames done, rate and an estimate of the time left, every ``interval`` seconds."""

    def __init__(self, name: str, n_units: int, total_frames: Optional[int] = None,
                 interval: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.name, self.n_units, self.total_frames = name, int(n_units), total_frames
        self.interval, self.clock = float(interval), clock
        self.start = self.last = clock()
        self.frames = self.units = 0

    def frame(self, n: int = 1) -> None:
        self.frames += n
        if self.clock() - self.last >= self.interval:
            self.log()

    def unit_done(self) -> None:
        self.units += 1
        if self.clock() - self.last >= self.interval:
            self.log()

    def line(self) -> str:
        elapsed = max(self.clock() - self.start, 1e-9)
        rate = self.frames / elapsed
        if self.total_frames:
            done = min(self.frames / self.total_frames, 1.0)
        else:
            done = self.units / self.n_units if self.n_units else 1.0
        left = elapsed * (1 - done) / done if done > 0 else float("nan")
        eta = "unknown" if left != left else f"{left / 60:.1f} min"
        return (f"{self.name}: {self.frames} frames, {self.units}/{self.n_units} sequences, "
                f"{rate:.1f} frames/s, {elapsed / 60:.1f} min so far, about {eta} left")

    def log(self) -> None:
        self.last = self.clock()
        logging.info("%s", self.line())


def _subject_of(unit_id: str) -> str:
    return unit_id.split("/", 1)[0]


def local_generator(name: str, split: str, units: Sequence[Unit], record: Callable[[str, dict], None],
                    total_frames: Optional[int] = None) -> Iterator[KeyExample]:
    """Runs ``units`` in order here; logs progress and the summary, passes it to ``record``.

    ``unit_id`` is ``subject/sequence`` (the summary counts subjects by the part before '/').
    """
    progress = Progress(f"{name} {split}", len(units), total_frames)
    total = Tally(f"{name} {split}")
    per_seq: Dict[str, collections.Counter] = {}
    try:
        for unit_id, fn in units:
            tally = Tally(unit_id)
            try:
                for key_example in fn(tally):
                    progress.frame()
                    yield key_example
            finally:
                total.update(tally)
                per_seq[unit_id] = tally.counts
            progress.unit_done()
    finally:
        progress.log()
        summary = split_summary(total.counts, per_seq, _subject_of)
        logging.info("%s", format_summary(name, split, summary))
        if not summary["frames_kept"]:
            logging.error("%s %s: no frame kept (TFDS cannot write an empty split): frames "
                          "dropped %s", name, split, summary["frames_dropped_by_reason"])
        record(split, summary)


def _run_unit(unit: Unit, namespace: str) -> Iterator[KeyExample]:
    """Beam worker side: run one unit, then report its tally as counters."""
    import apache_beam as beam  # pylint: disable=g-import-not-at-top

    unit_id, fn = unit
    tally = Tally(unit_id)
    yield from fn(tally)
    for key, value in tally.counts.items():
        beam.metrics.Metrics.counter(namespace, key).inc(int(value))
        beam.metrics.Metrics.counter(namespace, f"{_SEQ}{unit_id}:{key}").inc(int(value))
    # A sequence that kept nothing still counts as a sequence.
    beam.metrics.Metrics.counter(namespace, f"{_SEQ}{unit_id}:units").inc(1)


PACKAGE = "tfau_datasets"


def portable(fn):
    """``fn`` (a function or ``functools.partial``) taken from the module under its installed
    name. ``tfds build datasets/disfa`` imports the builder as ``disfa.disfa_dataset_builder``
    (the folder put on ``sys.path``); Beam pickles functions by module name, and its workers,
    which do not have that folder on their path, know the module only as
    ``tfau_datasets.disfa.disfa_dataset_builder``."""
    if isinstance(fn, functools.partial):
        return functools.partial(portable(fn.func), *fn.args, **fn.keywords)
    module = getattr(fn, "__module__", None) or ""
    if not module or module == PACKAGE or module.startswith(PACKAGE + "."):
        return fn
    try:
        installed = importlib.import_module(f"{PACKAGE}.{module}")
    except ImportError:
        return fn
    return getattr(installed, fn.__qualname__, fn)


def beam_transform(split: str, units: Sequence[Unit]):
    """The split as a ``beam.PTransform``: one unit per element, spread over the workers."""
    beam = tfds.core.lazy_imports.apache_beam
    namespace = f"{NAMESPACE}/{split}"
    units = [(unit_id, portable(fn)) for unit_id, fn in units]

    @beam.ptransform_fn
    def _examples(pipeline):
        return (pipeline
                | "Units" >> beam.Create(units)
                | "Spread" >> beam.Reshuffle()
                | "Run" >> beam.FlatMap(_run_unit, namespace=namespace))

    transform = _examples()  # pylint: disable=no-value-for-parameter
    transform.units = units  # for tests: what the workers get
    return transform


def summaries_from_counters(counters: Iterable) -> Dict[str, dict]:
    """{split: summary} from a Beam result's counters (``MetricResult`` objects)."""
    totals: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    per_seq: Dict[str, Dict[str, collections.Counter]] = collections.defaultdict(
        lambda: collections.defaultdict(collections.Counter))
    for c in counters:
        namespace, name = c.key.metric.namespace, c.key.metric.name
        if not namespace.startswith(NAMESPACE + "/"):
            continue
        split = namespace[len(NAMESPACE) + 1:]
        value = c.committed if c.committed is not None else c.attempted
        if name.startswith(_SEQ):
            unit_id, key = name[len(_SEQ):].rsplit(":", 1)
            if key != "units":
                per_seq[split][unit_id][key] += int(value)
            else:
                per_seq[split].setdefault(unit_id, collections.Counter())
        else:
            totals[split][name] += int(value)
    return {split: split_summary(totals[split], per_seq[split], _subject_of)
            for split in sorted(set(totals) | set(per_seq))}


class BuilderMixin:
    """For ``tfds.core.GeneratorBasedBuilder`` subclasses: a plain build unless Beam was asked for
    (``--beam_pipeline_options`` / ``beam_runner``), and the build summary in the metadata.

    The builder's ``_info`` passes ``metadata=tfds.core.MetadataDict()``; ``_generate_examples``
    returns :meth:`_run_units`.
    """

    _use_beam = False

    def _generate_splits(self, dl_manager, download_config):
        self._use_beam = bool(download_config.beam_options or download_config.beam_runner)
        if self._use_beam:
            logging.info("%s: building on Apache Beam (one element per sequence)", self.name)
        return super()._generate_splits(dl_manager, download_config)

    def _record_summary(self, split: str, summary: dict) -> None:
        metadata = self.info.metadata
        if metadata is None:
            return
        metadata.setdefault("build_summary", {})[split] = summary

    def _run_units(self, split: str, units: Sequence[Unit], total_frames: Optional[int] = None):
        name = f"{self.name}/{self.builder_config.name}"
        if self._use_beam:
            return beam_transform(split, units)
        return local_generator(name, split, units, self._record_summary, total_frames)

    def _process_pipeline_result(self, pipeline_result):
        name = f"{self.name}/{self.builder_config.name}"
        counters = pipeline_result.metrics().query()["counters"]
        for split, summary in summaries_from_counters(counters).items():
            logging.info("%s", format_summary(name, split, summary))
            self._record_summary(split, summary)


__all__ = ["BuilderMixin", "Progress", "Tally", "Unit", "beam_transform", "local_generator",
           "portable", "landmark_source", "split_summary", "summaries_from_counters"]
