"""Tests for tfau.face: loading odd image files, dlib detection + alignment on a real photo."""
import math
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from tfau import face, geometry


# ------------------------------------------------------------------------------------ helpers

def _cv2():
    import cv2

    return cv2


def _write(path, rgb_or_raw, ext=".png"):
    """Writes an RGB (or grey / BGRA / 16-bit) array with OpenCV; returns the path as str."""
    cv2 = _cv2()
    arr = rgb_or_raw
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(ext, arr)
    assert ok
    path.write_bytes(buf.tobytes())
    return str(path)


def _png(width, height, color_type, rows, plte=None):
    """Minimal 8-bit PNG encoder (OpenCV cannot write palette or grey+alpha PNGs)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if plte is not None:
        out += chunk(b"PLTE", bytes(plte))
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def astronaut():
    data = pytest.importorskip("skimage.data")
    return data.astronaut()  # public-domain NASA portrait, 512x512 RGB


@pytest.fixture(scope="module")
def aligner():
    return face.FaceAligner()


@pytest.fixture(scope="module")
def astronaut_result(aligner, astronaut):
    return aligner.align(astronaut)


# ------------------------------------------------------------------------------- import cost

def test_import_does_not_load_cv2_or_dlib():
    code = ("import sys, tfau, tfau.face; "
            "print(sorted(m for m in ('cv2', 'dlib', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_model_path_found_without_pkg_resources():
    path = face.model_path()
    assert path.endswith(os.path.join("models", "shape_predictor_68_face_landmarks.dat"))
    assert os.path.getsize(path) > 50_000_000
    with pytest.raises(FileNotFoundError, match="no_such_model.dat"):
        face.model_path("no_such_model.dat")


# ------------------------------------------------------------------------------ load_image

def test_load_image_colour_grey_alpha_16bit(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(9, 11, 3), dtype=np.uint8)
    np.testing.assert_array_equal(face.load_image(_write(tmp_path / "c.png", rgb)), rgb)

    grey = rng.integers(0, 256, size=(9, 11), dtype=np.uint8)
    out = face.load_image(_write(tmp_path / "g.png", grey))
    assert out.shape == (9, 11, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.repeat(grey[:, :, None], 3, axis=2))

    bgra = np.dstack([rgb[:, :, ::-1], np.full((9, 11), 7, np.uint8)])
    np.testing.assert_array_equal(face.load_image(_write(tmp_path / "a.png", bgra)), rgb)

    deep = np.array([[0, 1000, 65535, 32896]], np.uint16)  # 16-bit grey
    out = face.load_image(_write(tmp_path / "d.png", deep))
    np.testing.assert_array_equal(out[0, :, 0], [0, 4, 255, 128])  # round(v * 255 / 65535)
    deep_rgb = (rgb.astype(np.uint16) * 257)  # exact 8 -> 16 bit expansion
    out = face.load_image(_write(tmp_path / "d3.png", deep_rgb))
    np.testing.assert_array_equal(out, rgb)


def test_load_image_palette_and_grey_alpha(tmp_path):
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255]
    (tmp_path / "p.png").write_bytes(_png(3, 2, 3, [[0, 1, 2], [2, 1, 0]], plte=palette))
    out = face.load_image(tmp_path / "p.png")
    np.testing.assert_array_equal(out[0], [[255, 0, 0], [0, 255, 0], [0, 0, 255]])
    np.testing.assert_array_equal(out[1, 0], [0, 0, 255])

    (tmp_path / "la.png").write_bytes(_png(2, 1, 4, [[10, 255, 200, 0]]))  # (grey, alpha) pairs
    out = face.load_image(tmp_path / "la.png")
    assert out.shape == (1, 2, 3)
    np.testing.assert_array_equal(out[0, :, 0], [10, 200])
    assert (out[..., 0] == out[..., 2]).all()


def test_load_image_applies_exif_orientation(tmp_path):
    img = np.zeros((40, 60, 3), np.uint8)
    img[:8] = (255, 0, 0)  # red band along the top
    jpeg = open(_write(tmp_path / "plain.jpg", img, ".jpg"), "rb").read()
    # APP1 Exif with Orientation = 6 ("rotate 90 degrees clockwise to display").
    tiff = (b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1)
            + struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0) + struct.pack(">I", 0))
    app1 = b"Exif\x00\x00" + tiff
    (tmp_path / "rot.jpg").write_bytes(jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2)
                                       + app1 + jpeg[2:])
    out = face.load_image(tmp_path / "rot.jpg")
    assert out.shape == (60, 40, 3)
    assert out[:, -4:, 0].mean() > 200 and out[:, :20, 0].mean() < 30  # band now on the right


@pytest.mark.parametrize("name,content,reason", [
    ("empty.jpg", b"", "empty file"),
    ("corrupt.png", b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20, "corrupt, truncated or unsupported PNG"),
    ("notes.txt", b"frame,intensity\n1,0\n2,3\n", "looks like a text file"),
    ("noise.bin", bytes(range(256)) * 4, "format not recognised"),
])
def test_bad_files_raise_image_read_error(tmp_path, aligner, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(face.ImageReadError, match=reason) as err:
        face.load_image(path)
    assert str(path) in str(err.value) and isinstance(err.value, ValueError)
    result = aligner.align_file(path)
    assert (result.success, result.flag, result.faces) == (False, "unreadable", [])
    assert str(path) in result.message and reason.split(",")[0] in result.message


def test_truncated_missing_and_directory(tmp_path):
    jpeg = open(_write(tmp_path / "ok.jpg", np.full((64, 64, 3), 90, np.uint8), ".jpg"), "rb").read()
    (tmp_path / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    with pytest.raises(face.ImageReadError, match=r"cut\.jpg: corrupt, truncated or unsupported JPEG"):
        face.load_image(tmp_path / "cut.jpg")
    with pytest.raises(face.ImageReadError, match=r"missing\.png: no such file"):
        face.load_image(tmp_path / "missing.png")
    with pytest.raises(face.ImageReadError, match="is a directory"):
        face.load_image(tmp_path)


# ------------------------------------------------------------------ detection and alignment

def test_astronaut_one_face_aligned_to_template(astronaut_result, aligner, astronaut):
    result = astronaut_result
    assert (result.success, result.flag, len(result.faces)) == (True, "ok", 1)
    f = result.faces[0]
    assert f.image.shape == (256, 256, 3) and f.image.dtype == np.uint8
    assert f.landmarks.shape == (68, 2) and f.landmarks.dtype == np.float32
    assert f.transform.shape == (2, 3) and f.transform.dtype == np.float32
    x0, y0, x1, y1 = f.box  # her face: roughly x 175-266, y 76-167 in the 512x512 photo
    assert 150 < x0 < 200 and 240 < x1 < 290 and 50 < y0 < 100 and 140 < y1 < 190
    assert f.confidence > 1.0

    # The landmarks are the detected ones, warped by the returned transform.
    detected = aligner.landmarks(astronaut, f.box)
    np.testing.assert_allclose(face.warp_landmarks(detected, f.transform), f.landmarks, atol=1e-3)
    # The anchors land near the template's. Not exactly: she smiles broadly, so her mouth corners
    # sit higher and wider than the neutral template's, and the least-squares fit over the four
    # anchors splits the difference (eyes ~7 px, mouth corners ~11 px off). What must hold: the
    # fit is optimal (re-fitting aligned -> template gives the identity) and centroids match.
    anchors = geometry.alignment_anchors(f.landmarks)
    err = np.linalg.norm(anchors - geometry.TEMPLATE_ANCHORS, axis=1)
    assert err[:2].max() < 9.0 and err[2:].max() < 13.0, err
    refit = face.similarity_transform(anchors, geometry.TEMPLATE_ANCHORS)
    np.testing.assert_allclose(refit, [[1, 0, 0], [0, 1, 0]], atol=2e-3)
    np.testing.assert_allclose(anchors.mean(0), geometry.TEMPLATE_ANCHORS.mean(0), atol=0.05)
    # Eye line level after alignment (the similarity removed the head roll).
    assert abs(anchors[1, 1] - anchors[0, 1]) < 3.0


def test_aligned_pixels_agree_with_aligned_landmarks(astronaut_result, aligner):
    # Re-detecting the face in the aligned image finds the same landmarks: pixels and landmark
    # coordinates went through the same transform.
    f = astronaut_result.faces[0]
    boxes = aligner.detect(f.image)
    assert len(boxes) == 1
    again = aligner.landmarks(f.image, boxes[0][0])
    diff = np.linalg.norm(again - f.landmarks, axis=1)
    assert diff.mean() < 1.5 and diff.max() < 4.0, diff


def test_two_faces_largest_first(aligner, astronaut):
    small = _cv2().resize(astronaut, (384, 384), interpolation=_cv2().INTER_AREA)
    canvas = np.zeros((512, 512 + 384, 3), np.uint8)
    canvas[:, :512] = astronaut
    canvas[:384, 512:] = small
    result = aligner.align(canvas)
    assert (result.success, result.flag, len(result.faces)) == (True, "multiple_faces", 2)
    big, other = result.faces
    assert big.box[0] < 512 <= other.box[0]
    assert (big.box[2] - big.box[0]) > (other.box[2] - other.box[0])
    # Both aligned to the same template: the two aligned faces agree closely.
    assert np.linalg.norm(big.landmarks - other.landmarks, axis=1).mean() < 3.0


def test_no_face_and_too_small(aligner):
    flat = np.full((200, 240, 3), 128, np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, size=(200, 200, 3)).astype(np.uint8)
    for image in (flat, noise):
        result = aligner.align(image)
        assert (result.success, result.flag, result.faces) == (False, "no_face", [])
        assert "no face" in result.message
    result = aligner.align(np.zeros((20, 500, 3), np.uint8))
    assert (result.success, result.flag) == (False, "too_small")
    assert "20" in result.message


def test_files_grey_rgba_16bit_tiny(tmp_path, aligner, astronaut, astronaut_result):
    reference = astronaut_result.faces[0].landmarks
    grey = _cv2().cvtColor(astronaut, _cv2().COLOR_RGB2GRAY)
    bgra = np.dstack([astronaut[:, :, ::-1], np.full(astronaut.shape[:2], 255, np.uint8)])
    deep = astronaut[:, :, ::-1].astype(np.uint16) * 257
    for name, arr in (("grey.png", grey), ("rgba.png", bgra), ("deep.png", deep)):
        path = tmp_path / name
        ok, buf = _cv2().imencode(".png", arr)
        path.write_bytes(buf.tobytes())
        result = aligner.align_file(path)
        assert (result.success, result.flag) == (True, "ok"), (name, result.message)
        assert np.linalg.norm(result.faces[0].landmarks - reference, axis=1).mean() < 3.0, name
    result = aligner.align_file(_write(tmp_path / "tiny.png", astronaut[::20, ::20].copy()))
    assert (result.success, result.flag) == (False, "too_small")
    assert "tiny.png" in result.message


def test_huge_image_detects_on_a_downscaled_copy(astronaut, astronaut_result):
    cv2 = _cv2()
    huge = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    result = face.FaceAligner(max_side=512).align(huge)
    assert result.flag == "ok"
    f, ref = result.faces[0], astronaut_result.faces[0]
    np.testing.assert_allclose(np.array(f.box) / 4.0, ref.box, atol=3.0)
    assert np.linalg.norm(f.landmarks - ref.landmarks, axis=1).mean() < 2.0
    # Anti-aliased warp: the aligned pixels match those from the 512 px original.
    assert np.abs(f.image.astype(float) - ref.image).mean() < 6.0


def test_output_size_scales_template(astronaut):
    anchors = face.template_anchors(128)
    np.testing.assert_allclose(anchors, (geometry.TEMPLATE_ANCHORS + 0.5) * 0.5 - 0.5, atol=1e-5)
    result = face.FaceAligner(size=128).align(astronaut)
    f = result.faces[0]
    assert f.image.shape == (128, 128, 3)
    np.testing.assert_allclose(geometry.alignment_anchors(f.landmarks).mean(0), anchors.mean(0),
                               atol=0.05)


# ------------------------------------------------------------------------ align_to_landmarks

def test_align_to_landmarks_inverts_a_known_similarity():
    angle, scale, shift = math.radians(20.0), 1.7, np.array([40.0, 15.0])
    rot = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    source = geometry.TEMPLATE_68.astype(np.float64) @ rot.T + shift
    image = np.zeros((520, 560, 3), np.uint8)
    nose = np.round(source[30]).astype(int)
    image[nose[1] - 3:nose[1] + 4, nose[0] - 3:nose[0] + 4] = 255  # bright square at the nose tip
    f = face.align_to_landmarks(image, source)
    expected = np.concatenate([np.linalg.inv(rot), (-np.linalg.inv(rot) @ shift)[:, None]], 1)
    np.testing.assert_allclose(f.transform, expected, atol=1e-4)
    np.testing.assert_allclose(f.landmarks, geometry.TEMPLATE_68, atol=1e-3)
    bright = np.argwhere(f.image[:, :, 0] > 127)
    centre = bright.mean(0)[::-1]  # (x, y)
    moved = face.warp_landmarks(nose.astype(float), f.transform)
    assert np.linalg.norm(centre - moved) < 1.0
    assert f.confidence == 1.0
    np.testing.assert_allclose(f.box[:2], source.min(0), atol=1e-4)


def test_align_to_landmarks_bad_input():
    image = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="landmarks68 must be"):
        face.align_to_landmarks(image, np.zeros((66, 2)))
    lm = geometry.TEMPLATE_68.copy() / 4
    lm[37] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        face.align_to_landmarks(image, lm)
    with pytest.raises(ValueError, match="image must be"):
        face.align_to_landmarks(np.zeros((64, 64, 5)), geometry.TEMPLATE_68)
    with pytest.raises(ValueError, match="size"):
        face.align_to_landmarks(image, geometry.TEMPLATE_68, size=0)
    with pytest.raises(ValueError, match="0..255"):
        face.align_to_landmarks(image.astype(np.uint16) + 1000, geometry.TEMPLATE_68)


def test_warp_landmarks_and_similarity_fit():
    m = np.array([[0.0, -2.0, 5.0], [2.0, 0.0, -1.0]])
    pts = np.array([[[1.0, 0.0], [0.0, 1.0]], [[2.0, 3.0], [-1.0, -1.0]]])  # [2, 2, 2] batch
    np.testing.assert_allclose(face.warp_landmarks(pts, m), pts @ m[:, :2].T + m[:, 2])
    src = np.random.default_rng(1).normal(size=(6, 2))
    np.testing.assert_allclose(face.similarity_transform(src, face.warp_landmarks(src, m)), m,
                               atol=1e-6)
    with pytest.raises(ValueError, match="transform must be"):
        face.warp_landmarks(pts, np.eye(3))
    with pytest.raises(ValueError, match="coincide"):
        face.similarity_transform(np.ones((4, 2)), np.zeros((4, 2)))
