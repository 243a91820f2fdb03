"""The shared harness on Keras built-ins and on layers with tuple / dict outputs."""

import keras
import numpy as np
import pytest

from tfau.testing import layer_harness
from tfau.testing.layer_harness import run_layer_checks, run_model_checks


@keras.saving.register_keras_serializable(package="tfau_harness_test")
class TwoHeads(keras.layers.Layer):
    """Dense + BN giving a tuple (or a dict) of outputs, to exercise structured outputs."""

    def __init__(self, units=3, as_dict=False, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.as_dict = as_dict
        self.dense = keras.layers.Dense(units, use_bias=False)
        self.bn = keras.layers.BatchNormalization()

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.bn.build(self.dense.compute_output_shape(input_shape))

    def call(self, x, training=None):
        h = self.dense(x)
        out = (self.bn(h, training=training), keras.ops.sum(h, axis=-1))
        return {"a": out[0], "b": out[1]} if self.as_dict else out

    def compute_output_shape(self, input_shape):
        a = tuple(input_shape[:-1]) + (self.units,)
        b = tuple(input_shape[:-1])
        return {"a": a, "b": b} if self.as_dict else (a, b)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "as_dict": self.as_dict}


@keras.saving.register_keras_serializable(package="tfau_harness_test")
class BadShape(keras.layers.Dense):
    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units + 1,)


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_dense(tmp_path):
    ref = run_layer_checks(
        keras.layers.Dense, {"units": 4}, _x((3, 5)), expected_output_shape=(3, 4),
        tmp_path=tmp_path,
    )
    assert ref.shape == (3, 4)


@pytest.mark.parametrize("as_dict", [False, True])
def test_structured_outputs_training_mode(as_dict):
    run_layer_checks(
        TwoHeads, {"units": 3, "as_dict": as_dict}, _x((4, 2, 5)), {"training": True},
        check_mixed=not as_dict,
    )


def test_wrong_compute_output_shape_is_caught():
    with pytest.raises(AssertionError, match="compute_output_shape"):
        run_layer_checks(BadShape, {"units": 2}, _x((2, 3)), check_mixed=False, check_jit=False)


def test_policy_restored_on_failure():
    before = keras.config.dtype_policy().name

    class Fails(keras.layers.Dense):  # not registered: deserialize fails
        pass

    with pytest.raises(Exception):
        run_layer_checks(Fails, {"units": 2}, _x((2, 3)))
    with pytest.raises(RuntimeError):
        with layer_harness.dtype_policy("mixed_float16"):
            raise RuntimeError
    assert keras.config.dtype_policy().name == before


def test_model_checks_functional_with_dict_io():
    def model_fn():
        inputs = {"a": keras.Input((5,), name="a"), "b": keras.Input((2,), name="b")}
        h = keras.layers.Dense(4, activation="relu")(inputs["a"])
        h = keras.layers.BatchNormalization()(h)
        h = keras.layers.Concatenate()([h, inputs["b"]])
        return keras.Model(inputs, {"y": keras.layers.Dense(1, dtype="float32")(h), "h": h})

    ref = run_model_checks(model_fn, {"a": _x((3, 5)), "b": _x((3, 2), 1)})
    assert ref["y"].shape == (3, 1) and ref["h"].shape == (3, 6)


def test_model_checks_with_scalar_feature():
    @keras.saving.register_keras_serializable(package="tfau_harness_test")
    class Picker(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(3)

        def call(self, features):
            y = self.dense(features["image"])
            onehot = keras.ops.one_hot(features["au_index"], 3, dtype=y.dtype)
            return {"au": keras.ops.sum(y * onehot, axis=-1)}

    run_model_checks(
        Picker, {"image": _x((2, 4)), "au_index": np.array(1, "int32")}, check_config=False
    )
