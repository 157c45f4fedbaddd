"""Tests for trainer.data: layouts, labels, masks, errors and the decoded-frame cache."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from trainer import data
from trainer.data import DatasetError, Video, load_video
from trainer.datasets import load_split

H, W = 12, 16  # native size of the tiny test frames


@pytest.fixture(autouse=True)
def _fresh_memory_cache():
    data.clear_cache()
    yield
    data.clear_cache()


def _frame(value: int, h: int = H, w: int = W) -> np.ndarray:
    return np.full((h, w), value, dtype=np.uint8)


def _write_folder(folder: Path, values: list[int], ext: str = ".png", pad: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, v in enumerate(values):
        name = f"{i:0{pad}d}{ext}" if pad else f"{i}{ext}"  # unpadded: needs natural sort
        assert cv2.imwrite(str(folder / name), _frame(v))


def _frames_layout(root: Path, lengths=(5, 11), labels=True, masks=True) -> list[np.ndarray]:
    """<root>/{training,testing}/frames/<video>/<i>.png; frame i of video j has value 20j+i."""
    _write_folder(root / "training" / "frames" / "01", [100 + i for i in range(6)])
    per_video = []
    for j, k in enumerate(lengths):
        name = f"{j + 1:02d}"
        _write_folder(root / "testing" / "frames" / name, [20 * j + i for i in range(k)])
        lab = np.zeros(k, dtype=np.int64)
        lab[k // 2 :] = 1
        per_video.append(lab)
        if masks:
            mdir = root / "testing" / "pixel_masks" / name
            mdir.mkdir(parents=True)
            for i in range(k):
                m = np.zeros((H, W), np.uint8)
                if lab[i]:
                    m[2:6, 4:12] = 255
                assert cv2.imwrite(str(mdir / f"{i}.png"), m)
    if labels:
        np.save(root / f"frame_labels_{root.name}.npy", np.concatenate(per_video)[None, :])
    return per_video


# --------------------------------------------------------------------------- layouts


def test_frames_layout_labels_masks_natural_sort(tmp_path):
    root = tmp_path / "toy"
    expected = _frames_layout(root)
    vids = load_split(root, "testing", size=(6, 8))
    assert [v.name for v in vids] == ["01", "02"]
    v = vids[1]
    assert v.frames.shape == (11, 6, 8, 1) and v.frames.dtype == np.uint8
    # natural sort: 0, 1, 2, ..., 10 (not 0, 1, 10, 2, ...)
    np.testing.assert_array_equal(v.frames[:, 0, 0, 0], 20 + np.arange(11))
    np.testing.assert_array_equal(v.labels, expected[1])
    assert v.labels.dtype == np.int8
    assert v.masks.shape == (11, 6, 8) and v.masks.dtype == bool
    np.testing.assert_array_equal(v.masks.reshape(11, -1).any(1), expected[1].astype(bool))
    train = load_split(root, "train", size=(6, 8), channels=3)
    assert len(train) == 1 and train[0].labels is None and train[0].masks is None
    assert train[0].frames.shape == (6, 6, 8, 3)


def test_labels_from_masks_when_no_label_file(tmp_path):
    root = tmp_path / "toy"
    expected = _frames_layout(root, labels=False)
    vids = load_split(root, "testing", size=(H, W))
    np.testing.assert_array_equal(vids[0].labels, expected[0])


def test_rgb_channel_order(tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 2] = 200  # red in OpenCV's BGR order
    cv2.imwrite(str(folder / "0.png"), img)
    v = load_video(folder, (H, W), 3)
    assert v.frames.shape == (1, H, W, 3)
    assert v.frames[0, 0, 0].tolist() == [200, 0, 0]


def _ucsd(root: Path, under: str | None = "Train") -> None:
    """UCSD tif layout; `under` is the folder holding Train001 (None = the root itself)."""
    train_parent = root / under if under else root
    _write_folder(train_parent / "Train001", [50] * 4, ".tif", pad=3)
    test = root / "Test"
    _write_folder(test / "Test001", list(range(6)), ".tif", pad=3)
    _write_folder(test / "Test002", list(range(10, 18)), ".tif", pad=3)
    gt = test / "Test002_gt"
    gt.mkdir()
    for i in range(8):
        m = np.zeros((H, W), np.uint8)
        m[:4, :4] = 255 if i in (1, 2, 6) else 0
        cv2.imwrite(str(gt / f"{i:03d}.bmp"), m)


def test_ucsd_tif_layout_with_mat_labels(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    root = tmp_path / "UCSDped9"
    _ucsd(root)
    cells = np.empty((1, 2), dtype=object)
    cells[0, 0] = np.array([[3], [5]])  # frames 3..5 (1-based inclusive)
    cells[0, 1] = np.array([[2, 7], [3, 7]])  # two intervals: 2..3 and 7..7
    scipy_io.savemat(root / "UCSDped9.mat", {"gt": cells})
    vids = load_split(root, "Test", size=(H, W))
    assert [v.name for v in vids] == ["Test001", "Test002"]
    assert vids[0].labels.tolist() == [0, 0, 1, 1, 1, 0]
    assert vids[1].labels.tolist() == [0, 1, 1, 0, 0, 0, 1, 0]
    assert vids[0].masks is None
    assert vids[1].masks.reshape(8, -1).any(1).tolist() == [False, True, True] + [False] * 3 + [
        True,
        False,
    ]
    np.testing.assert_array_equal(vids[1].frames[:, 0, 0, 0], np.arange(10, 18))
    train = load_split(root, "training", size=(H, W))
    assert [v.name for v in train] == ["Train001"] and train[0].labels is None


@pytest.mark.parametrize("under", ["training", None])
def test_ucsd_video_folders_under_training_or_root(tmp_path, under):
    root = tmp_path / "ds"
    _ucsd(root, under=under)
    train = load_split(root, "training", size=(H, W))
    assert [v.name for v in train] == ["Train001"]
    assert len(train[0]) == 4


def _write_avi(path: Path, n: int, size=(24, 32)) -> None:
    h, w = size
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    assert wr.isOpened()
    for i in range(n):
        wr.write(np.full((h, w, 3), 20 * i, np.uint8))
    wr.release()


def test_video_files(tmp_path):
    root = tmp_path / "vids"
    (root / "testing").mkdir(parents=True)
    _write_avi(root / "testing" / "b.avi", 7)
    _write_avi(root / "testing" / "a.avi", 5)
    np.save(root / "frame_labels_vids.npy", np.array([0, 0, 1, 1, 0] + [1] * 7))
    vids = load_split(root, "testing", size=(12, 16))
    assert [v.name for v in vids] == ["a", "b"]
    assert vids[0].frames.shape == (5, 12, 16, 1)
    assert vids[0].labels.tolist() == [0, 0, 1, 1, 0]
    # MJPG is lossy: check the ramp approximately
    np.testing.assert_allclose(vids[1].frames.mean(axis=(1, 2, 3)), 20 * np.arange(7), atol=4)
    one = load_video(root / "testing" / "b.avi", (12, 16), channels=3)
    assert one.frames.shape == (7, 12, 16, 3) and one.labels is None and one.name == "b"


# --------------------------------------------------------------------------- errors


def test_label_length_mismatch_names_both_numbers(tmp_path):
    root = tmp_path / "toy"
    _frames_layout(root, labels=False)
    np.save(root / "frame_labels_toy.npy", np.zeros((1, 15), np.int64))
    with pytest.raises(DatasetError, match=r"15 entries.*16 frames"):
        load_split(root, "testing", size=(H, W))


def test_mat_label_mismatch(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    root = tmp_path / "UCSDped9"
    _ucsd(root)
    cells = np.empty((1, 1), dtype=object)
    cells[0, 0] = np.array([[1], [2]])
    scipy_io.savemat(root / "UCSDped9.mat", {"gt": cells})
    with pytest.raises(DatasetError, match=r"1 videos.*2 videos"):
        load_split(root, "testing", size=(H, W))


def test_corrupt_frame_names_the_file(tmp_path):
    root = tmp_path / "toy"
    _frames_layout(root)
    bad = root / "testing" / "frames" / "02" / "3.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(DatasetError, match=r"02.3\.png"):
        load_split(root, "testing", size=(H, W))


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_split(tmp_path / "nope", "testing", size=(H, W))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="is empty"):
        load_split(tmp_path / "empty", "testing", size=(H, W))
    root = tmp_path / "toy"
    _frames_layout(root)
    with pytest.raises(DatasetError, match="no 'training'|no videos"):
        # training exists; remove its only video so the split folder is empty
        for f in (root / "training" / "frames" / "01").iterdir():
            f.unlink()
        (root / "training" / "frames" / "01").rmdir()
        load_split(root, "training", size=(H, W))
    (root / "testing" / "frames" / "03").mkdir()
    with pytest.raises(DatasetError, match=r"03 has no frame images"):
        load_split(root, "testing", size=(H, W))
    with pytest.raises(DatasetError, match="does not exist"):
        load_video(tmp_path / "missing.avi", (H, W), 1)
    with pytest.raises(ValueError, match="split"):
        load_split(root, "validation", size=(H, W))


def test_short_video_skipped_with_warning(tmp_path):
    root = tmp_path / "toy"
    expected = _frames_layout(root)  # videos of 5 and 11 frames
    with pytest.warns(UserWarning, match=r"skipping video '01'.*5 frames < min_frames=8"):
        vids = load_split(root, "testing", size=(H, W), min_frames=8)
    assert [v.name for v in vids] == ["02"]
    np.testing.assert_array_equal(vids[0].labels, expected[1])  # labels stay aligned


def test_video_validates_shapes():
    with pytest.raises(DatasetError, match="3 labels"):
        Video("x", np.zeros((4, 2, 2, 1), np.uint8), np.zeros(3, np.int8), None)


# --------------------------------------------------------------------------- cache


def test_disk_cache_second_load_decodes_nothing(tmp_path, monkeypatch):
    root = tmp_path / "toy"
    _frames_layout(root)
    cache = tmp_path / "cache"
    calls = {"n": 0}
    real = data._decode_image

    def counting(path, channels):
        calls["n"] += 1
        return real(path, channels)

    monkeypatch.setattr(data, "_decode_image", counting)
    first = load_split(root, "testing", size=(6, 8), cache_dir=cache)
    assert calls["n"] == 2 * 16  # frames + masks, once each
    # 2 videos x (frames, masks), and no temporary left behind
    assert len(list(cache.glob("*.npy"))) == len(list(cache.iterdir())) == 4

    calls["n"] = 0
    again = load_split(root, "testing", size=(6, 8), cache_dir=cache)  # memory cache
    assert calls["n"] == 0

    data.clear_cache()  # fresh process: only the disk cache is left
    disk = load_split(root, "testing", size=(6, 8), cache_dir=cache)
    assert calls["n"] == 0
    assert isinstance(disk[0].frames, np.memmap)
    for a, b, c in zip(first, again, disk, strict=True):
        np.testing.assert_array_equal(a.frames, c.frames)
        np.testing.assert_array_equal(b.masks, c.masks)
        np.testing.assert_array_equal(a.labels, c.labels)

    # another size is another key; a touched file invalidates its video only
    data.clear_cache()
    f = root / "testing" / "frames" / "01" / "0.png"
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    load_split(root, "testing", size=(6, 8), cache_dir=cache)
    assert calls["n"] == 5


def test_model_range_round_trip():
    x = np.arange(256, dtype=np.uint8)
    y = data.to_model_range(x)
    assert y.dtype == np.float32 and y.min() == -1.0 and y.max() == 1.0
    np.testing.assert_array_equal(data.from_model_range(y), x)
    np.testing.assert_allclose(data.model_to_unit_range(y), x / 255.0, atol=1e-6)


# --------------------------------------------------------------------------- real data


def _datasets_dir() -> Path:
    env = os.environ.get("PSEUDOANOM_DATASETS")
    return Path(env) if env else Path(__file__).parents[1].parent / "shared" / "datasets"


@pytest.mark.realdata
def test_real_ped2(tmp_path):
    ped2 = _datasets_dir() / "ped2"
    if not (ped2 / "testing" / "frames").is_dir():
        pytest.skip(f"UCSD Ped2 not found at {ped2}")
    from trainer.evaluation import evaluate

    vids = load_split(ped2, "testing", size=(32, 48))
    assert len(vids) == 12
    assert [len(v) for v in vids] == [180, 180, 150, 180, 150, 180, 180, 180, 120, 150, 180, 180]
    labels = np.concatenate([v.labels for v in vids])
    assert labels.shape == (2010,)
    np.testing.assert_array_equal(labels, np.load(ped2 / "frame_labels_ped2.npy")[0])
    assert vids[0].masks.shape == (180, 32, 48)

    result = evaluate(vids, lambda b: np.zeros_like(b), batch_size=64)
    assert result.n_scored == 1830

    if (ped2 / "ped2.mat").is_file():
        pytest.importorskip("scipy.io")
        # same frames, labels from the .mat only (symlinks: the memory cache is reused)
        alt = tmp_path / "ped2"
        alt.mkdir()
        (alt / "testing").symlink_to(ped2 / "testing", target_is_directory=True)
        (alt / "ped2.mat").symlink_to(ped2 / "ped2.mat")
        mat_vids = load_split(alt, "testing", size=(32, 48))
        np.testing.assert_array_equal(np.concatenate([v.labels for v in mat_vids]), labels)
