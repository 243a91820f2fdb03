"""Action Unit catalogue: FACS names and the evaluation protocols of BP4D, BP4D+ and DISFA.

Pure Python (no TensorFlow), so ``import tfau`` stays cheap.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

FACS_NAMES = {
    1: "Inner Brow Raiser",
    2: "Outer Brow Raiser",
    4: "Brow Lowerer",
    5: "Upper Lid Raiser",
    6: "Cheek Raiser",
    7: "Lid Tightener",
    9: "Nose Wrinkler",
    10: "Upper Lip Raiser",
    11: "Nasolabial Deepener",
    12: "Lip Corner Puller",
    14: "Dimpler",
    15: "Lip Corner Depressor",
    16: "Lower Lip Depressor",
    17: "Chin Raiser",
    18: "Lip Pucker",
    20: "Lip Stretcher",
    22: "Lip Funneler",
    23: "Lip Tightener",
    24: "Lip Pressor",
    25: "Lips Part",
    26: "Jaw Drop",
    27: "Mouth Stretch",
    28: "Lip Suck",
    43: "Eyes Closed",
    45: "Blink",
}

INTENSITY = "intensity"
OCCURRENCE = "occurrence"


def au_name(au: int) -> str:
    """'AU01'-style column name used in tables, CSVs and SavedModel signatures."""
    return f"AU{int(au):02d}"


@dataclasses.dataclass(frozen=True)
class Protocol:
    """One evaluation protocol: which AUs, which task, how labels become targets.

    Attributes:
      name: registry key, e.g. ``"disfa_occurrence"``.
      dataset: ``"bp4d"``, ``"bp4d_plus"``, ``"disfa"`` (``synthetic_au`` mirrors these).
      task: ``"intensity"`` (0-5 regression) or ``"occurrence"`` (0/1).
      aus: AU numbers in output order.
      threshold: for occurrence derived from intensity labels (DISFA), an AU is positive when
        ``intensity >= threshold``. ``None`` when the dataset ships occurrence labels.
      unknown_label: raw label value meaning "not coded" (masked out), or ``None``.
    """

    name: str
    dataset: str
    task: str
    aus: Tuple[int, ...]
    threshold: Optional[float] = None
    unknown_label: Optional[int] = None

    @property
    def n_aus(self) -> int:
        return len(self.aus)

    @property
    def au_names(self) -> Tuple[str, ...]:
        return tuple(au_name(a) for a in self.aus)

    def with_threshold(self, threshold: float) -> "Protocol":
        if self.threshold is None:
            raise ValueError(f"protocol {self.name!r} has native occurrence labels; "
                             "a positive threshold applies only to intensity-derived occurrence")
        return dataclasses.replace(self, threshold=float(threshold))


BP4D_INTENSITY_AUS = (6, 10, 12, 14, 17)
BP4D_OCCURRENCE_AUS = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)
DISFA_INTENSITY_AUS = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)
DISFA_OCCURRENCE_AUS = (1, 2, 4, 6, 9, 12, 25, 26)
# AUs rendered by the offline synthetic dataset: the union of every protocol above plus 5/20/...
SYNTHETIC_AUS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 24, 25, 26)

PROTOCOLS = {
    p.name: p
    for p in (
        Protocol("bp4d_intensity", "bp4d", INTENSITY, BP4D_INTENSITY_AUS, unknown_label=9),
        Protocol("bp4d_occurrence", "bp4d", OCCURRENCE, BP4D_OCCURRENCE_AUS, unknown_label=9),
        Protocol("bp4d_plus_occurrence", "bp4d_plus", OCCURRENCE, BP4D_OCCURRENCE_AUS, unknown_label=9),
        Protocol("disfa_intensity", "disfa", INTENSITY, DISFA_INTENSITY_AUS),
        # >= 2 is the ROI-GCN / JAA-Net / SRERL convention; RE-Net uses > 0 (threshold=1).
        Protocol("disfa_occurrence", "disfa", OCCURRENCE, DISFA_OCCURRENCE_AUS, threshold=2.0),
    )
}


def get_protocol(name: str, threshold: Optional[float] = None) -> Protocol:
    """Looks up a protocol by name; ``threshold`` overrides DISFA's occurrence threshold."""
    try:
        protocol = PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown AU protocol {name!r}; known: {sorted(PROTOCOLS)}") from None
    return protocol.with_threshold(threshold) if threshold is not None else protocol


def resolve_protocol(protocol) -> Protocol:
    """A ``Protocol`` from a ``Protocol``, a protocol name, or its dict form (a model config or
    run file: ``dataclasses.asdict(protocol)``). The one resolver every module uses."""
    if isinstance(protocol, Protocol):
        return protocol
    if isinstance(protocol, str):
        return get_protocol(protocol)
    if isinstance(protocol, dict):
        fields = {f.name for f in dataclasses.fields(Protocol)}
        unknown = sorted(set(protocol) - fields)
        if unknown:
            raise ValueError(f"protocol dict: unknown keys {unknown}; a Protocol has {sorted(fields)}")
        missing = sorted({"name", "dataset", "task", "aus"} - set(protocol))
        if missing:
            raise ValueError(f"protocol dict: missing keys {missing}")
        return Protocol(**{**protocol, "aus": tuple(int(a) for a in protocol["aus"])})
    raise TypeError(f"protocol must be a name, a tfau.aus.Protocol or its dict form, got "
                    f"{protocol!r}")


def intensity_to_occurrence(intensity, threshold: float):
    """0/1 occurrence from 0-5 intensities (works on NumPy arrays and TF tensors)."""
    return (intensity >= threshold) * 1
