import dataclasses

import pytest

from tfau import aus


def test_resolve_protocol_reads_every_form():
    p = aus.get_protocol("disfa_occurrence", threshold=1.0)
    assert aus.resolve_protocol(p) is p
    assert aus.resolve_protocol("bp4d_intensity") == aus.PROTOCOLS["bp4d_intensity"]
    # the dict form a model config / run file stores (JSON turns the AU tuple into a list)
    stored = {**dataclasses.asdict(p), "aus": list(p.aus)}
    assert aus.resolve_protocol(stored) == p


def test_resolve_protocol_rejects_bad_input_clearly():
    with pytest.raises(ValueError, match="unknown AU protocol 'nope'"):
        aus.resolve_protocol("nope")
    with pytest.raises(ValueError, match="unknown keys"):
        aus.resolve_protocol({"name": "x", "dataset": "x", "task": "intensity", "aus": [1],
                              "colour": 1})
    with pytest.raises(ValueError, match="missing keys"):
        aus.resolve_protocol({"name": "x"})
    with pytest.raises(TypeError, match="protocol must be"):
        aus.resolve_protocol(3)
