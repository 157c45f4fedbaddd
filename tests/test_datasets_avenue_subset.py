"""The Avenue loader on real CUHK Avenue files (../shared/datasets/avenue_subset).

The subset holds test videos 08 and 17-21, every ``N_label.mat`` and the paper authors'
``frame_labels_avenue.npy`` for all 21 test videos. Skipped when the folder is absent.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import datasets_root

from trainer.datasets import load_pixel_masks, load_split

scipy_io = pytest.importorskip("scipy.io")

SUBSET = datasets_root() / "avenue_subset"
# Frames of Avenue's 21 test videos as published (they add up to the 15,324 frame labels).
LENGTHS = [1439, 1211, 923, 947, 1007, 1283, 605, 36, 1175, 841, 472,
           1271, 549, 507, 1001, 740, 426, 294, 248, 273, 76]  # fmt: skip
# Frames on which volLabel-derived and published labels differ, per test video (README there).
DIFFER = [43, 50, 0, 0, 0, 26, 18, 26, 44, 28, 55, 59, 6, 13, 0, 10, 26, 29, 8, 0, 0]

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.slow,
    pytest.mark.skipif(not SUBSET.is_dir(), reason=f"Avenue subset not found at {SUBSET}"),
]


@pytest.fixture(scope="module")
def published() -> list[np.ndarray]:
    labels = np.load(SUBSET / "frame_labels_avenue.npy")[0]
    assert len(labels) == sum(LENGTHS) == 15324 and labels.sum() == 3867
    bounds = np.cumsum([0, *LENGTHS])
    return [labels[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


@pytest.fixture(scope="module")
def test_split():
    return load_split(SUBSET, "testing", size=(32, 32))


def _vol_label(n: int) -> np.ndarray:
    mat = scipy_io.loadmat(str(SUBSET / "ground_truth_demo/testing_label_mask" / f"{n}_label.mat"))
    return np.stack([np.asarray(m) for m in mat["volLabel"].ravel()])


def test_frame_labels_are_the_published_slices(test_split, published):
    assert [v.name for v in test_split] == ["08", "17", "18", "19", "20", "21"]
    for video in test_split:
        n = int(video.name)
        assert len(video) == LENGTHS[n - 1]
        np.testing.assert_array_equal(video.labels, published[n - 1])


def test_mask_labels_and_localisation_masks_are_the_vol_labels(test_split, published):
    by_masks = load_split(SUBSET, "testing", size=(32, 32), label_source="masks")
    for video, masked in zip(test_split, by_masks, strict=True):
        n = int(video.name)
        vol = _vol_label(n)
        np.testing.assert_array_equal(masked.labels, vol.reshape(len(vol), -1).any(axis=1))
        np.testing.assert_array_equal(load_pixel_masks(video), vol > 0)
        assert int((masked.labels != published[n - 1]).sum()) == DIFFER[n - 1]


def test_training_videos():
    train = load_split(SUBSET, "training", size=(32, 32))
    assert [(v.name, len(v)) for v in train] == [("12", 145), ("16", 244)]
