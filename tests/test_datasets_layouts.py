"""Every published dataset layout, built tiny: detection, frame labels, masks and a smoke run.

The builders write each layout as its authors publish it (frames with cv2, videos as MJPG
``.avi``, Avenue's ``volLabel`` with ``scipy.io.savemat``, ShanghaiTech's masks as ``.npy``),
with frame labels that differ from the mask-derived ones where the real datasets' do, so the
tests see which source was read.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from trainer.data import DatasetError, MissingSplitError
from trainer.datasets import detect_layout, load_pixel_masks, load_split

scipy_io = pytest.importorskip("scipy.io")

H, W = 24, 32  # native frame size of the tiny datasets
N = 20  # frames per video: a 16-frame clip scores frames 8..12
# Frame labels of the two test videos, and the frames whose pixel masks are not empty (they
# differ on purpose: frame 5 of video 1 is labelled but has an empty mask, frame 15 of video
# 2 the other way round, as on Avenue).
LABELS = [np.isin(np.arange(N), [5, 9, 10, 11]).astype(np.int8), np.isin(np.arange(N), [8, 12])]
MASKED = [np.isin(np.arange(N), [9, 10, 11]), np.isin(np.arange(N), [8, 12, 15])]


def _frame(i: int, anomalous: bool) -> np.ndarray:
    img = np.full((H, W, 3), 40 + 5 * (i % 10), np.uint8)
    if anomalous:
        img[4:12, 4:12] = 250
    return img


def _mask(on: bool) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    if on:
        m[4:12, 4:12] = 1
    return m


def _write_frames(folder: Path, labels: np.ndarray, ext: str = ".jpg", pad: int = 3) -> None:
    folder.mkdir(parents=True)
    for i, a in enumerate(labels):
        cv2.imwrite(str(folder / f"{i:0{pad}d}{ext}"), _frame(i, bool(a)))


def _write_avi(path: Path, labels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (W, H))
    assert wr.isOpened()
    for i, a in enumerate(labels):
        wr.write(_frame(i, bool(a)))
    wr.release()


def make_ucsd(root: Path) -> Path:
    """UCSDped2 as in UCSD's archive: Train/Train001/*.tif, Test/Test00N(_gt)/, Test/UCSDped2.m."""
    _write_frames(root / "Train" / "Train001", np.zeros(N), ".tif")
    lines = ["TestVideoFile = {};"]
    for v, (labels, masked) in enumerate(zip(LABELS, MASKED, strict=True), start=1):
        _write_frames(root / "Test" / f"Test{v:03d}", masked, ".tif")
        gt = root / "Test" / f"Test{v:03d}_gt"
        gt.mkdir()
        for i, on in enumerate(masked):
            cv2.imwrite(str(gt / f"{i + 1:03d}.bmp"), 255 * _mask(bool(on)))
        runs = np.flatnonzero(np.diff(np.r_[0, labels, 0]))
        spans = ", ".join(f"{a + 1}:{b}" for a, b in runs.reshape(-1, 2))
        lines.append(f"TestVideoFile{{end+1}}.gt_frame = [{spans}];")
    (root / "Test" / "UCSDped2.m").write_text("\n".join(lines) + "\n")
    return root


def make_avenue(root: Path, with_frame_labels: bool = True) -> Path:
    """CUHK Avenue as published: training_videos/, testing_videos/, ground_truth_demo/."""
    _write_avi(root / "training_videos" / "01.avi", np.zeros(N))
    gt = root / "ground_truth_demo" / "testing_label_mask"
    gt.mkdir(parents=True)
    for v, masked in enumerate(MASKED, start=1):
        _write_avi(root / "testing_videos" / f"{v:02d}.avi", masked)
        cells = np.empty((1, N), dtype=object)
        for i, on in enumerate(masked):
            cells[0, i] = _mask(bool(on))
        scipy_io.savemat(gt / f"{v}_label.mat", {"volLabel": cells})
    if with_frame_labels:
        np.save(root / "frame_labels_avenue.npy", np.concatenate(LABELS)[None].astype(np.int8))
    return root


def make_shanghaitech(root: Path) -> Path:
    """ShanghaiTech as published: training/videos/*.avi, testing/frames/, test_*_mask/."""
    _write_avi(root / "training" / "videos" / "01_001.avi", np.zeros(N))
    testing = root / "testing"
    (testing / "test_frame_mask").mkdir(parents=True)
    (testing / "test_pixel_mask").mkdir()
    for v, (labels, masked) in enumerate(zip(LABELS, MASKED, strict=True), start=1):
        name = f"01_00{v}"
        _write_frames(testing / "frames" / name, masked)
        np.save(testing / "test_frame_mask" / f"{name}.npy", labels.astype(np.int64))
        pixels = np.stack([_mask(bool(on)) for on in masked]).astype(np.uint8)
        np.save(testing / "test_pixel_mask" / f"{name}.npy", pixels)
    return root


def make_frames(root: Path) -> Path:
    """The paper authors' frames layout with frame_labels_<name>.npy and pixel_masks/."""
    _write_frames(root / "training" / "frames" / "01", np.zeros(N))
    for v, masked in enumerate(MASKED, start=1):
        _write_frames(root / "testing" / "frames" / f"{v:02d}", masked)
        mdir = root / "testing" / "pixel_masks" / f"{v:02d}"
        mdir.mkdir(parents=True)
        for i, on in enumerate(masked):
            cv2.imwrite(str(mdir / f"{i:03d}.png"), 255 * _mask(bool(on)))
    np.save(root / f"frame_labels_{root.name}.npy", np.concatenate(LABELS)[None].astype(np.int64))
    return root


BUILDERS = {
    "ucsd": lambda tmp: make_ucsd(tmp / "UCSDped2"),
    "avenue": lambda tmp: make_avenue(tmp / "Avenue Dataset"),
    "shanghaitech": lambda tmp: make_shanghaitech(tmp / "shanghaitech"),
    "frames": lambda tmp: make_frames(tmp / "shanghai"),
}


@pytest.mark.parametrize("layout", sorted(BUILDERS))
def test_layout_detected_with_published_frame_labels_and_masks(tmp_path, layout):
    root = BUILDERS[layout](tmp_path)
    assert detect_layout(root).name == layout
    test = load_split(root, "testing", size=(16, 16))
    assert len(test) == 2
    for video, labels, masked in zip(test, LABELS, MASKED, strict=True):
        assert len(video) == N
        np.testing.assert_array_equal(video.labels, labels)
        native = load_pixel_masks(video)
        assert native.shape == (N, H, W)
        np.testing.assert_array_equal(native.reshape(N, -1).any(axis=1), masked)
        assert video.masks.shape == (N, 16, 16)
    train = load_split(root, "training", size=(16, 16))
    assert len(train) == 1 and len(train[0]) == N and train[0].labels is None


@pytest.mark.parametrize("layout", sorted(BUILDERS))
def test_label_source_masks_reads_the_pixel_masks(tmp_path, layout):
    root = BUILDERS[layout](tmp_path)
    test = load_split(root, "testing", size=(16, 16), label_source="masks")
    for video, masked in zip(test, MASKED, strict=True):
        np.testing.assert_array_equal(video.labels, masked.astype(np.int8))


def test_avenue_without_frame_labels_warns_and_uses_the_masks(tmp_path):
    root = make_avenue(tmp_path / "avenue", with_frame_labels=False)
    with pytest.warns(UserWarning, match="no frame_labels_avenue.npy.*441"):
        test = load_split(root, "testing", size=(16, 16))
    np.testing.assert_array_equal(test[1].labels, MASKED[1].astype(np.int8))


def test_avenue_subset_takes_its_slice_of_the_frame_labels(tmp_path):
    root = make_avenue(tmp_path / "avenue")
    (root / "testing_videos" / "01.avi").unlink()  # video 1's length comes from 1_label.mat
    (test,) = load_split(root, "testing", size=(16, 16))
    assert test.name == "02"
    np.testing.assert_array_equal(test.labels, LABELS[1])
    (root / "ground_truth_demo" / "testing_label_mask" / "1_label.mat").unlink()
    with pytest.raises(DatasetError, match="test video 1 .*neither"):
        load_split(root, "testing", size=(16, 16))


def test_avenue_mask_count_mismatch_names_both(tmp_path):
    root = make_avenue(tmp_path / "avenue")
    cells = np.empty((1, 3), dtype=object)
    for i in range(3):
        cells[0, i] = _mask(False)
    scipy_io.savemat(root / "ground_truth_demo/testing_label_mask/2_label.mat", {"volLabel": cells})
    with pytest.raises(DatasetError, match=r"3 volLabel masks.*02\.avi has 20 frames"):
        load_split(root, "testing", size=(16, 16))


def test_shanghaitech_missing_frame_mask_is_named(tmp_path):
    root = make_shanghaitech(tmp_path / "sht")
    (root / "testing" / "test_frame_mask" / "01_002.npy").unlink()
    with pytest.raises(DatasetError, match=r"01_002.*test_frame_mask.01_002\.npy is missing"):
        load_split(root, "testing", size=(16, 16))


def test_unrecognised_layout_lists_the_layouts_and_what_was_found(tmp_path):
    root = tmp_path / "odd"
    (root / "clips").mkdir(parents=True)
    (root / "notes.txt").write_text("x")
    with pytest.raises(DatasetError) as err:
        load_split(root, "training", size=(16, 16))
    msg = str(err.value)
    assert "clips/, notes.txt" in msg
    for needle in ("UCSD", "Avenue", "ShanghaiTech", "frames folders"):
        assert needle in msg


def test_missing_test_split_is_a_missing_split_error(tmp_path):
    root = tmp_path / "avenue"
    _write_avi(root / "training_videos" / "01.avi", np.zeros(N))
    with pytest.raises(MissingSplitError, match="testing_videos"):
        load_split(root, "testing", size=(16, 16))


def _scored_labels(run: Path) -> dict[str, dict[int, int]]:
    out: dict[str, dict[int, int]] = {}
    with open(run / "evaluation" / "scores.csv") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["video"], {})[int(row["frame"])] = int(row["label"])
    return out


@pytest.mark.slow
@pytest.mark.parametrize("layout", sorted(BUILDERS))
def test_smoke_train_evaluates_with_the_frame_labels(tmp_path, layout):
    pytest.importorskip("keras")
    from trainer.cli import main

    root = BUILDERS[layout](tmp_path)
    run = tmp_path / "run"
    args = ["train", "--preset", "smoke", "--data", str(root), "--epochs", "1", "--out", str(run)]
    assert main([*args, "--set", f"cache_dir={tmp_path / 'cache'}", "--quiet"]) == 0
    summary = json.loads((run / "evaluation" / "summary.json").read_text())
    assert summary["micro_auc"] is not None
    scored = _scored_labels(run)
    names = [v.name for v in load_split(root, "testing", size=(16, 16))]
    assert sorted(scored) == sorted(names)
    for name, labels in zip(names, LABELS, strict=True):
        assert scored[name] == {i: int(labels[i]) for i in scored[name]}
        assert len(scored[name]) == N - 15  # frames 8..12: the clip's 9th frame
