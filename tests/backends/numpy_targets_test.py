"""``tfau.testing.numpy_targets`` (the test batches' targets without TensorFlow) equals
``tfau.targets`` (the pipeline's TF ops) on the same landmarks and labels."""
import numpy as np
import pytest

from tfau import aus, geometry
from tfau.testing import model_harness, numpy_targets


@pytest.fixture(scope="module")
def tf_targets():
    try:
        from tfau import targets
    except ImportError as err:
        pytest.skip(f"needs TensorFlow to compare with tfau.targets ({err})")
    return targets


@pytest.mark.parametrize("protocol", ["disfa_intensity", "bp4d_intensity"])
def test_heatmaps_equal_tf(tf_targets, protocol):
    spec = geometry.heatmap_spec(aus.get_protocol(protocol))
    lm = model_harness.landmarks(3, 64, seed=1)
    lm[0, :, 0] += 200.0  # face pushed off the right edge: those channels must be all zero
    labels = np.random.default_rng(0).integers(0, 6, (3, spec.n_aus)).astype(np.float32)
    ours = numpy_targets.heatmap_targets(lm, labels, spec, image_size=64)
    ref = np.asarray(tf_targets.heatmap_targets(lm, labels, spec, image_size=64))
    assert ours.shape == ref.shape == (3, 16, 16, spec.n_points)
    assert np.abs(ours[0]).max() == 0.0 and ours[1:].max() > 1.0
    np.testing.assert_allclose(ours, ref, atol=1e-6)


@pytest.mark.parametrize("protocol", ["bp4d_occurrence", "disfa_occurrence"])
def test_roi_maps_equal_tf(tf_targets, protocol):
    spec = geometry.roi_spec(aus.get_protocol(protocol))
    lm = model_harness.landmarks(3, 64, seed=2)
    labels = np.random.default_rng(1).integers(0, 2, (3, spec.n_aus)).astype(np.float32)
    maps, mask = numpy_targets.roi_targets(lm, labels, spec, image_size=64)
    ref_maps, ref_mask = (np.asarray(t) for t in tf_targets.roi_targets(lm, labels, spec,
                                                                         image_size=64))
    assert maps.shape == ref_maps.shape == (3, 16, 16, spec.n_aus)
    assert maps.min() == -1.0 and maps.max() == 1.0
    np.testing.assert_allclose(maps, ref_maps, atol=1e-6)
    np.testing.assert_array_equal(mask, ref_mask)
