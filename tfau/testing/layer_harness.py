"""Shared checks every tfau layer and model passes.

`run_layer_checks` and `run_model_checks` run, with assertions, the properties a Keras 3 layer or
model in this package must have:

- config round trip (`get_config` -> `from_config`, and through `keras.saving.serialize_keras_object`
  / `deserialize_keras_object`, so the class must be registered) gives an equal config and, with the
  weights copied, equal outputs;
- a `.keras` file save / `keras.saving.load_model` gives equal outputs;
- `compute_output_shape` (layers) matches the real output shape(s), including tuple / dict outputs;
- under the `mixed_float16` and `mixed_bfloat16` policies outputs are finite, variables stay float32
  and (layers) floating outputs have the compute dtype;
- a jit-compiled call (`tf.function(jit_compile=True)` on TensorFlow, `jax.jit` of the stateless call
  on JAX; `Model.predict` with `jit_compile=True` for models) gives the same outputs;
- built at one batch size, the layer / model runs at another: the batch tiled twice gives the
  outputs tiled twice (exact even for training-mode batch statistics, which are the same for a
  batch repeated), and a batch of one runs.

The global dtype policy is restored afterwards, also on failure. Keep the inputs tiny: every check
builds a fresh layer or model.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile

import keras
import numpy as np

__all__ = ["run_layer_checks", "run_model_checks", "assert_allclose_structure", "dtype_policy"]

MIXED_POLICIES = ("mixed_float16", "mixed_bfloat16")


# --------------------------------------------------------------------------------------------- utils


@contextlib.contextmanager
def dtype_policy(policy):
    """Set the global dtype policy for the block; always restores the previous one."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _to_numpy(x):
    x = keras.ops.convert_to_numpy(x)
    return np.asarray(x)


def _as_float32_numpy(x):
    x = _to_numpy(x)
    if x.dtype.kind == "f" or x.dtype.name == "bfloat16" or "float" in str(x.dtype):
        return x.astype(np.float32)
    return x


def _map(fn, structure):
    return keras.tree.map_structure(fn, structure)


def _to_tensors(inputs):
    """NumPy (or tensor) structure -> backend tensors; floating arrays become float32."""

    def conv(x):
        a = _to_numpy(x)
        if "float" in str(a.dtype):
            return keras.ops.convert_to_tensor(a.astype(np.float32))
        return keras.ops.convert_to_tensor(a)

    return _map(conv, inputs)


def _batch_size(inputs):
    return int(next(x for x in keras.tree.flatten(inputs) if len(x.shape)).shape[0])


# Leaves without a batch dimension (0-d, e.g. RE-Net's `au_index`) are left as they are.
def _tile_batch(inputs, times):
    return _map(
        lambda x: np.concatenate([_to_numpy(x)] * times, axis=0) if np.ndim(x) else x, inputs
    )


def _slice_batch(inputs, n):
    return _map(lambda x: _to_numpy(x)[:n] if np.ndim(x) else x, inputs)


def assert_allclose_structure(actual, expected, atol=1e-5, rtol=1e-5, msg=""):
    """Same nested structure (lists and tuples alike) and allclose leaves (compared in float32)."""
    actual = keras.tree.lists_to_tuples(actual)
    expected = keras.tree.lists_to_tuples(expected)
    keras.tree.assert_same_structure(actual, expected)
    flat_a = keras.tree.flatten(actual)
    flat_e = keras.tree.flatten(expected)
    for i, (a, e) in enumerate(zip(flat_a, flat_e)):
        a = _as_float32_numpy(a)
        e = _as_float32_numpy(e)
        assert a.shape == e.shape, f"{msg}: output {i} shape {a.shape} != {e.shape}"
        np.testing.assert_allclose(a, e, atol=atol, rtol=rtol, err_msg=f"{msg}: output {i}")


def _assert_finite(outputs, msg):
    for i, o in enumerate(keras.tree.flatten(outputs)):
        o = _as_float32_numpy(o)
        if o.dtype.kind == "f":
            assert np.all(np.isfinite(o)), f"{msg}: output {i} has NaN/Inf"


def _is_shape(s):
    return isinstance(s, (tuple, list)) and all(
        d is None or isinstance(d, (int, np.integer)) for d in s
    )


def _flatten_shapes(s):
    if _is_shape(s):
        return [tuple(None if d is None else int(d) for d in s)]
    if isinstance(s, dict):
        return [x for k in sorted(s) for x in _flatten_shapes(s[k])]
    if isinstance(s, (tuple, list)):
        return [x for v in s for x in _flatten_shapes(v)]
    if hasattr(s, "shape"):  # KerasTensor / spec
        return [tuple(s.shape)]
    raise TypeError(f"not a shape structure: {s!r}")


def _shape_structure(inputs):
    return _map(lambda x: tuple(int(d) for d in x.shape), inputs)


def _assert_shapes_match(declared, actual_outputs, msg, batch_wildcard=True):
    got = [tuple(int(d) for d in o.shape) for o in keras.tree.flatten(actual_outputs)]
    want = _flatten_shapes(declared)
    assert len(got) == len(want), f"{msg}: {len(want)} declared shapes, {len(got)} outputs"
    for g, w in zip(got, want):
        assert len(g) == len(w), f"{msg}: rank mismatch declared {w} actual {g}"
        for j, (gd, wd) in enumerate(zip(g, w)):
            if wd is None and (batch_wildcard or j > 0):
                continue
            assert gd == wd, f"{msg}: declared {w} actual {g}"


def _symbolic_inputs(inputs):
    def make(x, name=None):
        dtype = keras.backend.standardize_dtype(x.dtype)
        return keras.Input(shape=tuple(x.shape[1:]), dtype=dtype, name=name)

    if isinstance(inputs, dict):
        return {k: make(v, name=k) for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return [make(v) for v in inputs]
    return make(inputs)


def _tmp_dir(tmp_path):
    if tmp_path is not None:
        return contextlib.nullcontext(str(tmp_path))
    return tempfile.TemporaryDirectory()


def _jit_layer_call(layer, inputs, call_kwargs):
    """Run `layer(inputs, **call_kwargs)` compiled with XLA (TF) / jax.jit (JAX)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda x: layer(x, **call_kwargs), jit_compile=True, autograph=False)
        return fn(inputs)
    if backend == "jax":
        import jax

        kwargs = dict(call_kwargs)
        if not getattr(layer, "_call_has_training_arg", True):
            kwargs.pop("training", None)  # stateless_call reaches call() directly, unlike __call__

        def fn(trainable, non_trainable, x):
            out, _ = layer.stateless_call(trainable, non_trainable, x, **kwargs)
            return out

        tv = [v.value for v in layer.trainable_variables]
        ntv = [v.value for v in layer.non_trainable_variables]
        return jax.jit(fn)(tv, ntv, inputs)
    # Other backends: a functional model compiled with jit_compile.
    sym = _symbolic_inputs(inputs)
    model = keras.Model(sym, layer(sym, **call_kwargs))
    model.compile(jit_compile=True)
    return model.predict(inputs, verbose=0, batch_size=_batch_size(inputs))


# --------------------------------------------------------------------------------------------- layers


def run_layer_checks(
    layer_cls,
    init_kwargs,
    inputs,
    call_kwargs=None,
    *,
    expected_output_shape=None,
    atol=1e-5,
    rtol=1e-5,
    check_mixed=True,
    check_jit=True,
    check_variable_batch=True,
    check_save=True,
    tmp_path=None,
):
    """Run the standard checks on `layer_cls(**init_kwargs)` called as `layer(inputs, **call_kwargs)`.

    inputs: an array, a list of arrays or a dict of arrays (NumPy or tensors; floating ones are
    fed as float32), all with the same leading batch dimension (run_model_checks also accepts
    0-d leaves, which are not tiled or sliced).
    expected_output_shape: optional shape (or structure of shapes) the outputs must have.
    Returns the reference outputs (NumPy structure) of the float32 layer.
    """
    call_kwargs = dict(call_kwargs or {})
    init_kwargs = dict(init_kwargs or {})
    inputs = _map(_to_numpy, inputs)
    x = _to_tensors(inputs)

    with dtype_policy("float32"):
        # --- reference layer, output shapes -------------------------------------------------
        layer = layer_cls(**init_kwargs)
        out = layer(x, **call_kwargs)
        ref = _map(_to_numpy, out)
        _assert_finite(ref, "float32 call")
        if expected_output_shape is not None:
            _assert_shapes_match(expected_output_shape, ref, "expected_output_shape", False)
        declared = layer.compute_output_shape(_shape_structure(inputs))
        _assert_shapes_match(declared, ref, "compute_output_shape")
        # Symbolic call (unknown batch) agrees with compute_output_shape too.
        sym = _symbolic_inputs(inputs)
        sym_out = layer(sym, **call_kwargs)
        _assert_shapes_match(
            [tuple(t.shape) for t in keras.tree.flatten(sym_out)], ref, "symbolic call"
        )
        # Training-mode calls may move non-trainable state (BN moving statistics) but their
        # outputs do not depend on it, so copying the weights as they are now is enough.
        weights = layer.get_weights()

        # --- config round trip --------------------------------------------------------------
        config = layer.get_config()
        json.dumps(config)  # must be JSON-serialisable
        clone = layer_cls.from_config(config)
        assert clone.get_config() == config, "from_config(get_config()) changed the config"
        clone(x, **call_kwargs)  # build
        clone.set_weights(weights)
        assert_allclose_structure(
            clone(x, **call_kwargs), ref, atol, rtol, "from_config with copied weights"
        )
        serialized = keras.saving.serialize_keras_object(layer)
        json.dumps(serialized)
        clone2 = keras.saving.deserialize_keras_object(serialized)
        assert type(clone2) is type(layer), "deserialize_keras_object gave another class"
        assert clone2.get_config() == config, "serialize/deserialize changed the config"

        # --- .keras save / load -------------------------------------------------------------
        if check_save:
            saved_layer = layer_cls.from_config(config)
            saved_layer(x, **call_kwargs)
            saved_layer.set_weights(weights)
            sym = _symbolic_inputs(inputs)
            model = keras.Model(sym, saved_layer(sym, **call_kwargs))
            model_ref = _map(_to_numpy, model(x))
            assert_allclose_structure(model_ref, ref, atol, rtol, "functional wrapper")
            with _tmp_dir(tmp_path) as d:
                path = os.path.join(d, f"{layer_cls.__name__}_harness.keras")
                model.save(path)
                loaded = keras.saving.load_model(path)
            assert_allclose_structure(loaded(x), model_ref, atol, rtol, ".keras save/load")

        # --- jit ----------------------------------------------------------------------------
        if check_jit:
            jit_layer = layer_cls.from_config(config)
            jit_layer(x, **call_kwargs)
            jit_layer.set_weights(weights)
            jit_out = _jit_layer_call(jit_layer, x, call_kwargs)
            assert_allclose_structure(jit_out, ref, atol, rtol, "jit_compile call")

        # --- variable batch -----------------------------------------------------------------
        if check_variable_batch:
            vb_layer = layer_cls.from_config(config)
            vb_layer(x, **call_kwargs)  # built at batch B
            vb_layer.set_weights(weights)
            tiled = vb_layer(_to_tensors(_tile_batch(inputs, 2)), **call_kwargs)
            assert_allclose_structure(
                tiled, _tile_batch(ref, 2), atol, rtol, "batch tiled twice"
            )
            vb_layer.set_weights(weights)
            one = vb_layer(_to_tensors(_slice_batch(inputs, 1)), **call_kwargs)
            _assert_shapes_match(_shape_structure(_slice_batch(ref, 1)), one, "batch of one", False)
            _assert_finite(one, "batch of one")

    # --- mixed precision --------------------------------------------------------------------
    if check_mixed:
        for policy in MIXED_POLICIES:
            with dtype_policy(policy):
                mixed = layer_cls(**init_kwargs)
                compute_dtype = mixed.compute_dtype
                mout = mixed(x, **call_kwargs)
                for i, o in enumerate(keras.tree.flatten(mout)):
                    dt = keras.backend.standardize_dtype(o.dtype)
                    if "float" in dt:
                        assert dt == compute_dtype, (
                            f"{policy}: output {i} is {dt}, expected {compute_dtype}"
                        )
                for v in mixed.weights:
                    dt = keras.backend.standardize_dtype(v.dtype)
                    if "float" in dt:
                        assert dt == "float32", f"{policy}: variable {v.path} is {dt}"
                _assert_finite(mout, policy)
                _assert_shapes_match(declared, mout, f"{policy} shapes")
    return ref


# --------------------------------------------------------------------------------------------- models


def run_model_checks(
    model_fn,
    inputs,
    call_kwargs=None,
    *,
    expected_output_shape=None,
    atol=1e-5,
    rtol=1e-5,
    check_mixed=True,
    check_jit=True,
    check_variable_batch=True,
    check_config=True,
    check_save=True,
    tmp_path=None,
):
    """Run the standard checks on `model_fn()` (a keras.Model) called as `model(inputs, **call_kwargs)`.

    The model is called in inference mode (`training=False`) unless call_kwargs say otherwise.
    Under mixed precision, model outputs must be finite floats (a model may cast its heads back to
    float32) and variables float32. Returns the reference outputs (NumPy structure).
    """
    call_kwargs = dict(call_kwargs or {})
    call_kwargs.setdefault("training", False)
    inputs = _map(_to_numpy, inputs)
    x = _to_tensors(inputs)

    with dtype_policy("float32"):
        model = model_fn()
        ref = _map(_to_numpy, model(x, **call_kwargs))
        _assert_finite(ref, "float32 call")
        if expected_output_shape is not None:
            _assert_shapes_match(expected_output_shape, ref, "expected_output_shape", False)
        weights = model.get_weights()

        # --- config round trip --------------------------------------------------------------
        if check_config:
            serialized = keras.saving.serialize_keras_object(model)
            json.dumps(serialized)
            clone = keras.saving.deserialize_keras_object(serialized)
            assert type(clone) is type(model), "deserialize_keras_object gave another class"
            clone(x, **call_kwargs)
            clone.set_weights(weights)
            assert_allclose_structure(
                clone(x, **call_kwargs), ref, atol, rtol, "config round trip with copied weights"
            )

        # --- .keras save / load -------------------------------------------------------------
        if check_save:
            with _tmp_dir(tmp_path) as d:
                path = os.path.join(d, f"{type(model).__name__}_harness.keras")
                model.save(path)
                loaded = keras.saving.load_model(path)
            assert_allclose_structure(
                loaded(x, **call_kwargs), ref, atol, rtol, ".keras save/load"
            )

        # --- jit predict --------------------------------------------------------------------
        if check_jit:
            jit_model = model_fn()
            jit_model(x, **call_kwargs)
            jit_model.set_weights(weights)
            if all(np.ndim(v) for v in keras.tree.flatten(inputs)):
                jit_model.compile(jit_compile=True)
                pred = jit_model.predict(x, verbose=0, batch_size=_batch_size(inputs))
            else:  # predict() cannot batch 0-d features: jit the call itself
                pred = _jit_layer_call(jit_model, x, call_kwargs)
            assert_allclose_structure(pred, ref, atol, rtol, "jit_compile predict")

        # --- variable batch -----------------------------------------------------------------
        if check_variable_batch:
            tiled = model(_to_tensors(_tile_batch(inputs, 2)), **call_kwargs)
            assert_allclose_structure(tiled, _tile_batch(ref, 2), atol, rtol, "batch tiled twice")
            one = model(_to_tensors(_slice_batch(inputs, 1)), **call_kwargs)
            _assert_shapes_match(_shape_structure(_slice_batch(ref, 1)), one, "batch of one", False)
            _assert_finite(one, "batch of one")

    # --- mixed precision --------------------------------------------------------------------
    if check_mixed:
        for policy in MIXED_POLICIES:
            with dtype_policy(policy):
                mixed = model_fn()
                mout = mixed(x, **call_kwargs)
                for i, o in enumerate(keras.tree.flatten(mout)):
                    dt = keras.backend.standardize_dtype(o.dtype)
                    assert "float" in dt or "int" in dt or dt == "bool", f"{policy}: output {i} {dt}"
                for v in mixed.weights:
                    dt = keras.backend.standardize_dtype(v.dtype)
                    if "float" in dt:
                        assert dt == "float32", f"{policy}: variable {v.path} is {dt}"
                _assert_finite(mout, policy)
    return ref
