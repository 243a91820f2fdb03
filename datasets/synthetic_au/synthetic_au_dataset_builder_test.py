"""Tests for synthetic_au: the TFDS builder contract plus the values it renders."""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import tensorflow_datasets as tfds

from tfau import aus as aus_lib
from tfau import geometry
from tfau_datasets import common
from tfau_datasets.synthetic_au import generate, render
from tfau_datasets.synthetic_au import synthetic_au_dataset_builder as sab

TINY = sab.SyntheticAuConfig(name="tiny", protocol="disfa_intensity", n_identities=6,
                             n_sequences=1, n_frames=2)
TINY_BP4D = sab.SyntheticAuConfig(name="tiny_bp4d_occ", protocol="bp4d_occurrence",
                                  n_identities=3, n_sequences=1, n_frames=2, unknown_rate=0.2)
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dummy_data", "golden.json")
GOLDEN_FRAMES = ((0, 0, 0), (4, 2, 5), (17, 7, 9))  # (identity, sequence, frame), 10-frame seqs


class SyntheticAuBuilderTest(tfds.testing.DatasetBuilderTestCase):
    """Builds tiny configs through the real builder (tfds' own checks: splits, specs, counts)."""

    DATASET_CLASS = sab.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = [TINY]
    SPLITS = {"fold1": 4, "fold2": 4, "fold3": 4}
    SKIP_CHECKSUMS = True

    def test_split_membership_and_labels(self):
        builder = sab.Builder(config=TINY, data_dir=self.tmp_dir)
        builder.download_and_prepare()
        parts = generate.folds(TINY.n_identities)
        seen = {}
        for split in common.FOLD_SPLITS:
            for ex in tfds.as_numpy(builder.as_dataset(split=split)):
                subject = ex["subject"].decode()
                # every subject of a split belongs to that split's third, and to no other split
                self.assertEqual(common.fold_of(subject, parts), split)
                seen.setdefault(subject, set()).add(split)
                identity = int(subject[1:]) - 1
                sequence = int(ex["sequence"].decode()[1:]) - 1
                plan = render.sequence_plan(identity, sequence, TINY.n_frames, TINY.seed)
                levels = plan.levels[int(ex["frame"])]
                expected = generate.labels_from_levels(levels, aus_lib.get_protocol("disfa_intensity"))
                np.testing.assert_array_equal(ex["labels"], expected)
                np.testing.assert_array_equal(ex["label_mask"], np.ones(12, np.float32))
                self.assertEqual(ex["image"].shape, (256, 256, 3))
                self.assertTrue(np.isfinite(ex["landmarks"]).all())
        self.assertEqual(len(seen), TINY.n_identities)
        self.assertTrue(all(len(s) == 1 for s in seen.values()))

    def test_occurrence_config_with_unknowns(self):
        builder = sab.Builder(config=TINY_BP4D, data_dir=self.tmp_dir)
        builder.download_and_prepare()
        protocol = aus_lib.get_protocol("bp4d_occurrence")
        n_masked = 0
        for split in common.FOLD_SPLITS:
            for ex in tfds.as_numpy(builder.as_dataset(split=split)):
                identity = int(ex["subject"].decode()[1:]) - 1
                plan = render.sequence_plan(identity, 0, 2, 0)
                levels = plan.levels[int(ex["frame"])]
                occ = (levels[generate.protocol_columns(protocol)] >= 1).astype(np.float32)
                mask = ex["label_mask"]
                self.assertTrue(set(np.unique(mask)) <= {0.0, 1.0})
                np.testing.assert_array_equal(ex["labels"], occ * mask)
                n_masked += int((mask == 0).sum())
        self.assertGreater(n_masked, 0)  # 6 frames x 12 AUs at rate 0.2


def test_configs_mirror_protocols():
    names = [c.name for c in sab.Builder.BUILDER_CONFIGS]
    assert names[0] == "disfa_intensity"  # default
    for name in ("disfa_intensity", "bp4d_intensity", "bp4d_occurrence", "disfa_occurrence"):
        small = sab.Builder.builder_configs[name]
        large = sab.Builder.builder_configs[name + "_large"]
        assert small.protocol == large.protocol == name
        assert 40 <= small.n_identities <= 48 and 2000 <= small.size.n_examples <= 6000
        assert large.n_identities >= 120
    assert sab.Builder.builder_configs["bp4d_occurrence"].unknown_rate > 0
    assert sab.Builder.builder_configs["disfa_intensity"].unknown_rate == 0


def test_occurrence_thresholds():
    levels = np.zeros(len(render.AUS), np.int32)
    levels[render.AU_COLUMN[1]] = 1
    levels[render.AU_COLUMN[2]] = 2
    levels[render.AU_COLUMN[12]] = 5
    disfa = generate.labels_from_levels(levels, aus_lib.get_protocol("disfa_occurrence"))
    # DISFA occurrence AUs (1, 2, 4, 6, 9, 12, 25, 26), threshold 2: AU1 at level 1 is negative
    np.testing.assert_array_equal(disfa, [0, 1, 0, 0, 0, 1, 0, 0])
    relaxed = generate.labels_from_levels(levels, aus_lib.get_protocol("disfa_occurrence"), 1)
    np.testing.assert_array_equal(relaxed, [1, 1, 0, 0, 0, 1, 0, 0])
    bp4d = generate.labels_from_levels(levels, aus_lib.get_protocol("bp4d_intensity"))
    np.testing.assert_array_equal(bp4d, [0, 0, 5, 0, 0])  # AUs 6, 10, 12, 14, 17


def test_folds_are_subject_exclusive_thirds():
    parts = generate.folds(48)
    flat = [s for p in parts for s in p]
    assert len(flat) == len(set(flat)) == 48
    assert [len(p) for p in parts] == [16, 16, 16]
    assert common.fold_of("S001", parts) == "fold1" and common.fold_of("S005", parts) == "fold2"
    # the large config's first 48 identities are the small config's, in the same folds
    large = generate.folds(120)
    assert all(set(p) <= set(q) for p, q in zip(parts, large))


def _landmarks(**aus):
    levels = np.zeros(len(render.AUS), np.float32)
    for name, v in aus.items():
        levels[render.AU_COLUMN[int(name[2:])]] = v
    return render.deform(render.make_identity(0).shape, levels)


def test_au_displacements_are_facs_directions():
    base = _landmarks()
    smile = _landmarks(au12=3)
    assert smile[48, 0] < base[48, 0] and smile[54, 0] > base[54, 0]  # corners outward
    assert smile[48, 1] < base[48, 1] and smile[54, 1] < base[54, 1]  # and up (y down)
    jaw = _landmarks(au26=3)
    assert jaw[8, 1] > base[8, 1] + 5 and jaw[57, 1] > base[57, 1]
    inner = _landmarks(au1=3)
    assert inner[21, 1] < base[21, 1] - 3 and inner[22, 1] < base[22, 1] - 3
    assert (base[21, 1] - inner[21, 1]) > (base[17, 1] - inner[17, 1])  # inner more than outer
    outer = _landmarks(au2=3)
    assert (base[17, 1] - outer[17, 1]) > (base[21, 1] - outer[21, 1])
    lower = _landmarks(au4=3)
    assert lower[21, 1] > base[21, 1] and lower[21, 0] > base[21, 0] and lower[22, 0] < base[22, 0]
    sad = _landmarks(au15=3)
    assert sad[48, 1] > base[48, 1] and sad[54, 1] > base[54, 1]
    lid = _landmarks(au5=3)
    assert lid[37, 1] < base[37, 1] and lid[44, 1] < base[44, 1]
    parted = _landmarks(au25=3)
    assert parted[66, 1] - parted[62, 1] > base[66, 1] - base[62, 1] + 3
    assert abs(base[66, 1] - base[62, 1]) < 0.5  # neutral: lips closed
    # every AU moves some landmark, monotonically in its level
    for au in render.AUS:
        d = [np.abs(_landmarks(**{f"au{au}": v}) - base).sum() for v in range(6)]
        assert d[0] == 0 and all(b > a for a, b in zip(d, d[1:])), (au, d)


def test_appearance_grows_with_intensity():
    """The rendered difference from neutral grows with the level, inside the AU's region."""
    ident = render.make_identity(5)
    neutral, lm = render.render_face(ident, np.zeros(len(render.AUS), np.float32), noise=0)
    regions = {4: (21, 22), 9: (28, 29), 14: (48, 54), 17: (57, 8), 6: (41, 46)}
    for au, idx in regions.items():
        c = lm[list(idx)].mean(0).astype(int)
        box = np.s_[max(c[1] - 22, 0):c[1] + 22, max(c[0] - 40, 0):c[0] + 40]
        diffs = []
        for v in (1, 3, 5):
            levels = np.zeros(len(render.AUS), np.float32)
            levels[render.AU_COLUMN[au]] = v
            img, _ = render.render_face(ident, levels, noise=0)
            diffs.append(np.abs(img[box].astype(float) - neutral[box]).mean())
        assert diffs[0] > 0.3 and diffs[0] < diffs[1] < diffs[2], (au, diffs)


def test_sequences_are_smooth_and_imbalanced():
    plans = [render.sequence_plan(i, s, 10) for i in range(48) for s in range(8)]
    levels = np.concatenate([p.levels for p in plans])
    x = np.concatenate([p.intensities for p in plans])
    zero = (levels == 0).mean(0)
    assert (zero > 0.55).all() and (zero < 0.97).all(), dict(zip(render.AUS, zero.round(2)))
    for au in render.AUS:  # levels 0-4 of every AU occur; 5 (rare, as in real data) of most
        assert set(np.unique(levels[:, render.AU_COLUMN[au]])) >= set(range(5)), au
    assert ((levels == 5).sum(0) > 0).sum() >= 14
    np.testing.assert_array_equal(levels, np.clip(np.rint(x), 0, 5))
    steps = np.concatenate([np.abs(np.diff(p.intensities, axis=0)) for p in plans])
    assert np.percentile(steps, 99) < 2.2  # video-like: no big jumps between frames
    corr = np.corrcoef(levels.T)
    c = render.AU_COLUMN
    assert corr[c[6], c[12]] > 0.3 and corr[c[1], c[2]] > 0.3 and corr[c[9], c[10]] > 0.3
    assert not ((levels[:, c[24]] > 0) & (levels[:, c[25]] > 0)).any()  # pressed != parted


def test_rendering_is_deterministic_and_order_independent():
    a = render.render_frame(7, 3, 4, 10)
    b = list(render.iter_sequence(7, 3, 10))[4]
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    spec = generate.ExampleSpec("disfa_intensity", n_frames=2)
    first = generate.sequence_examples(spec, 2, 1)
    second = generate.sequence_examples(spec, 2, 1)
    assert [k for k, _ in first] == [k for k, _ in second]
    for (_, e1), (_, e2) in zip(first, second):
        assert e1["image"] == e2["image"]  # identical JPEG bytes
        np.testing.assert_array_equal(e1["landmarks"], e2["landmarks"])
    other = render.render_frame(7, 3, 4, 10, seed=1)
    assert not np.array_equal(a.image, other.image)


def test_parallel_rendering_matches_serial():
    spec = generate.ExampleSpec("bp4d_intensity", n_frames=1)
    serial = list(generate.iter_examples(spec, [0, 1, 2, 3], 1, workers=1))
    parallel = list(generate.iter_examples(spec, [0, 1, 2, 3], 1, workers=2))
    assert [k for k, _ in serial] == [k for k, _ in parallel]
    assert all(a["image"] == b["image"] for (_, a), (_, b) in zip(serial, parallel))


def test_landmarks_are_the_rendered_ones():
    """Stored landmarks sit on the drawn features: the pupil is dark, lips are not skin."""
    fr = render.render_frame(3, 0, 0, 10)
    plan = render.sequence_plan(3, 0, 10)
    for eye in (fr.landmarks[36:42].mean(0), fr.landmarks[42:48].mean(0)):
        x, y = np.round(eye).astype(int)
        assert fr.image[y - 4:y + 5, x - 4:x + 5].mean(-1).min() < 60  # the pupil is there
    lips = fr.landmarks[[50, 52, 56, 58]].mean(0)
    cheek = fr.landmarks[[1, 31]].mean(0)
    assert np.abs(fr.image[int(lips[1]), int(lips[0])].astype(float)
                  - fr.image[int(cheek[1]), int(cheek[0])]).sum() > 20
    assert geometry.inner_eye_distance(fr.landmarks) > 35
    # landmarks = pose(deform(shape)) exactly
    m = render.pose_matrix(plan.poses[0])
    canon = render.deform(render.make_identity(3).shape, plan.levels[0].astype(np.float32))
    np.testing.assert_allclose(fr.landmarks, canon @ m[:, :2].T + m[:, 2], atol=1e-3)


def _golden_records():
    out = []
    for identity, sequence, frame in GOLDEN_FRAMES:
        fr = render.render_frame(identity, sequence, frame, 10)
        out.append({"key": generate.example_key(identity, sequence, frame),
                    "levels": fr.levels.tolist(),
                    "landmarks_sum": round(float(fr.landmarks.sum()), 2),
                    "landmarks_8": [round(float(v), 2) for v in fr.landmarks[8]]})
    return out


def test_golden_frames_unchanged():
    """Guards the data: a renderer change that alters labels or landmarks must bump VERSION."""
    with open(GOLDEN) as f:
        golden = json.load(f)
    assert golden["version"] == str(sab.Builder.VERSION)
    for got, want in zip(_golden_records(), golden["frames"]):
        assert got["key"] == want["key"]
        assert got["levels"] == want["levels"], got["key"]
        assert abs(got["landmarks_sum"] - want["landmarks_sum"]) < 0.05, got["key"]
        np.testing.assert_allclose(got["landmarks_8"], want["landmarks_8"], atol=0.02)


if __name__ == "__main__":
    if "--write-golden" in sys.argv:
        frames = ",\n  ".join(json.dumps(r) for r in _golden_records())
        with open(GOLDEN, "w") as f:
            f.write(f'{{"version": "{sab.Builder.VERSION}",\n "frames": [\n  {frames}\n ]}}\n')
        print(f"wrote {GOLDEN}")
    else:
        tfds.testing.test_main()
