"""trainer.localisation on synthetic cases whose answers are worked out by hand.

Conventions of the hand computations: a ground-truth (GT) region is detected at score
threshold s when a predicted region of its frame with score >= s has IoU >= 0.1 with it; a
predicted region with IoU < 0.1 with every GT region is a false positive (FP); the curves start
at (0, 0), are joined linearly, held at their last rate and integrated over [0, 1] FP/frame.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from trainer.data import Video
from trainer.datasets import load_pixel_masks
from trainer.evaluation import evaluate, frame_psnr
from trainer.localisation import (
    Localiser,
    PixelScoreHistogram,
    components,
    detection_curve,
    equal_error_rate,
    error_map,
    iou_matrix,
    link_tracks,
    region_scores,
    track_detection_scores,
    ucsd_frame_statistic,
    write_frames_csv,
)
from trainer.plots import plot_localisation
from trainer.writers import write_metrics_csv

H = W = 32


def square(top: int, left: int, size: int = 4) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[top : top + size, left : left + size] = True
    return m


class FakeVideo:
    """What Localiser reads from a video: name, frames (for the figure), masks, len()."""

    def __init__(self, name: str, masks: np.ndarray) -> None:
        self.name = name
        self.masks = masks
        self.frames = np.zeros((len(masks), H, W, 1), np.uint8)

    def __len__(self) -> int:
        return len(self.masks)


def run_localiser(maps: np.ndarray, masks: np.ndarray, **kwargs) -> Localiser:
    loc = Localiser(region_threshold=0.2, **kwargs)  # regions: every nonzero square below
    video = FakeVideo("v", masks)
    loc.add(video, np.arange(2), maps[:2])  # two calls for one video, as across batches
    loc.add(video, np.arange(2, len(maps)), maps[2:])
    return loc


# ---------------------------------------------------------------- the partial case, by hand
#
# 5 frames. Object X: a 4x4 square moving 1 px right per frame in frames 0-3 (consecutive
# squares overlap: one track of 4 regions). Object Y: a 4x4 square in frames 0-1 (a second
# track of 2 regions). Frame 4 is normal. The maps (0 elsewhere):
#   frame 0: 0.9 on X0              -> X0 detected up to 0.9 (Y0 missed)
#   frame 1: 0.8 on a square far from X1 and Y1 -> one FP of score 0.8
#   frame 2: 0.6 on X2              -> X2 detected up to 0.6
#   frame 3: nothing
#   frame 4: 0.3 on a square        -> one FP of score 0.3 (normal frame)
# RBDC: 6 GT regions. Thresholds 0.9: (0 FP/frame, 1/6); 0.8: (0.2, 1/6); 0.6: (0.2, 2/6);
#   0.3: (0.4, 2/6); held to 1. Area = 0.2 * 1/6 + 0.8 * 2/6 = 0.3.
# TBDC: track X needs ceil(0.1 * 4) = 1 region: detected up to 0.9; track Y never. Points
#   (0, 1/2) from 0.9 on: area 0.5.
# UCSD (40 % of the mask): frame 0 mask = X0 + Y0 (32 px, 16 at 0.9): 13th largest = 0.9;
#   frame 1: 0; frame 2: X2 at 0.6 (16 px): 0.6; frame 3: 0; normal frame 4: max 0.3.
#   AUC = P(anomalous > normal) = 2/4 = 0.5. ROC points (FPR, TPR): (0, 0), (0, .25), (0, .5),
#   (1, .5), (1, 1); miss - FPR = 1, .75, .5, -.5, -1: EER between (0, .5) and (1, .5) = 0.5.


def partial_case() -> tuple[np.ndarray, np.ndarray]:
    masks = np.zeros((5, H, W), bool)
    maps = np.zeros((5, H, W), np.float32)
    for f in range(4):
        masks[f] |= square(4, 4 + f)
    for f in range(2):
        masks[f] |= square(20, 20)
    maps[0][square(4, 4)] = 0.9
    maps[1][square(12, 24)] = 0.8
    maps[2][square(4, 6)] = 0.6
    maps[4][square(26, 2)] = 0.3
    return maps, masks


def test_partial_detector_by_hand():
    maps, masks = partial_case()
    r = run_localiser(maps, masks).finish()
    assert r.counts["gt_regions"] == 6 and r.counts["gt_tracks"] == 2
    assert r.counts["fp_regions"] == 2 and r.counts["frames"] == 5
    assert r.rbdc.auc == pytest.approx(0.3)
    assert r.tbdc.auc == pytest.approx(0.5)
    assert r.ucsd_auc == pytest.approx(0.5)
    assert r.ucsd_eer == pytest.approx(0.5) and r.ucsd_eer_threshold == pytest.approx(0.3)
    # the histogram's pixel AUC/AP against sklearn's on the same pixels (values far apart)
    assert r.pixel_auc == pytest.approx(roc_auc_score(masks.ravel(), maps.ravel()), abs=1e-12)
    ap = average_precision_score(masks.ravel(), maps.ravel())
    assert r.pixel_ap == pytest.approx(ap, abs=1e-12)
    assert [row["fp_regions"] for row in r.frames] == [0, 1, 0, 0, 1]


def test_perfect_detector_scores_one():
    _, masks = partial_case()
    maps = masks.astype(np.float32) * np.linspace(0.6, 1.0, 5, dtype=np.float32)[:, None, None]
    r = run_localiser(maps, masks).finish()
    assert r.rbdc.auc == 1.0 and r.tbdc.auc == 1.0
    assert r.pixel_auc == 1.0 and r.pixel_ap == 1.0
    assert r.ucsd_auc == 1.0 and r.ucsd_eer == 0.0
    assert r.counts["fp_regions"] == 0


def test_detector_always_shifted_off_scores_zero():
    _, masks = partial_case()
    maps = np.roll(masks, H // 2, axis=1).astype(np.float32)  # no overlap with any mask
    assert not (maps.astype(bool) & masks).any()
    r = run_localiser(maps, masks).finish()
    assert r.rbdc.auc == 0.0 and r.tbdc.auc == 0.0
    assert r.counts["fp_regions"] == 6  # every predicted region is a false positive
    # anomalous pixels all score 0, so they only tie with the normal pixels scored 0
    n_neg = (~masks).sum()
    assert r.pixel_auc == pytest.approx(0.5 * (n_neg - maps.sum()) / n_neg)


def test_quantile_threshold_and_map_smoothing_are_recorded():
    maps, masks = partial_case()
    loc = Localiser(region_quantile=0.9, map_sigma=1.0, figure_frames=2)
    loc.add(FakeVideo("v", masks), np.arange(5), maps)
    r = loc.finish()
    assert r.params["map_sigma"] == 1.0 and r.params["region_quantile"] == 0.9
    assert r.thresholds["v"] > 0
    assert [f.frame for f in r.figure_frames] == [1, 2]  # spread over the anomalous frames
    s = r.summary()
    assert set(s) >= {"pixel_auc", "pixel_ap", "ucsd_pixel_auc", "ucsd_pixel_eer", "rbdc", "tbdc"}


def test_video_without_masks_is_listed_and_masks_are_checked():
    loc = Localiser(mask_loader=lambda v: None)
    loc.add(FakeVideo("a", np.zeros((3, H, W), bool)), np.arange(3), np.zeros((3, 8, 8)))
    r = loc.finish()
    assert r.videos_without_masks == ["a"] and r.rbdc is None and r.pixel_auc is None
    with pytest.raises(ValueError, match="finished"):  # one Localiser per evaluation
        loc.add(FakeVideo("a", np.zeros((3, H, W), bool)), np.arange(3), np.zeros((3, 8, 8)))
    bad = Localiser(mask_loader=lambda v: np.zeros((2, H, W), bool))
    bad.add(FakeVideo("b", np.zeros((3, H, W), bool)), np.arange(3), np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match=r"video 'b': pixel masks of shape \(2, 32, 32\)"):
        bad.finish()


# ---------------------------------------------------------------- building blocks


def test_detection_curve_by_hand():
    # 4 frames; targets detected up to 0.9 and 0.5; FPs scored 0.7 and 0.3:
    # (0, 0) (0, .5) (.25, .5) (.25, 1) (.5, 1), held: area .25 * .5 + .75 * 1 = .875
    c = detection_curve([0.9, 0.5], [0.7, 0.3], n_frames=4)
    assert c.auc == pytest.approx(0.875)
    assert c.fp_per_frame.tolist() == [0, 0, 0.25, 0.25, 0.5, 1.0]
    # a diagonal step: 2 FPs and the detection at the same score, 4 frames -> (0,0)-(.5,1)
    assert detection_curve([0.5], [0.5, 0.5], 4).auc == pytest.approx(0.75)
    # cut at 0.25 FP/frame: the line is interpolated at x = .25 (y = .5), area / 0.25
    assert detection_curve([0.5], [0.5, 0.5], 4, max_fp_per_frame=0.25).auc == pytest.approx(0.25)
    # FPs before any detection push it past 1 FP/frame
    assert detection_curve([0.5], [0.7, 0.6, 0.4], n_frames=1).auc == 0.0
    assert detection_curve([-math.inf], [], 3).auc == 0.0
    assert detection_curve([], [0.1], 3).auc is None
    with pytest.raises(ValueError, match="n_frames"):
        detection_curve([0.5], [], 0)


def test_track_detection_needs_ten_percent_of_its_regions():
    d = np.array([0.9] + [-np.inf] * 9 + [0.8, 0.7] + [-np.inf] * 9)
    t = np.array([0] * 10 + [1] * 11)
    # track 0: 10 regions, 1 needed -> 0.9; track 1: 11 regions, ceil(1.1) = 2 needed -> 0.7
    np.testing.assert_allclose(track_detection_scores(d, t, 0.1), [0.9, 0.7])
    assert track_detection_scores(d, t, 0.2)[1] == -np.inf  # 3 needed, 2 detected


def test_tracks_link_overlapping_regions_of_consecutive_frames():
    a = components(square(0, 0) | square(20, 20))[0]  # two objects
    b = components(square(2, 2))[0]  # overlaps the first only
    c = components(np.zeros((H, W), bool))[0]  # a gap: nothing links across it
    d = components(square(2, 2))[0]
    tracks = link_tracks([a, b, c, d])
    assert [t.tolist() for t in tracks] == [[0, 1], [0], [], [2]]


def test_components_iou_and_region_scores():
    m = np.zeros((H, W), bool)
    m[0, 0] = m[1, 1] = True  # diagonal neighbours: one component under 8-connectivity
    m[5:7, 5:7] = True
    lab, n = components(m)
    assert n == 2
    score = np.zeros((H, W))
    score[0, 0], score[1, 1], score[5, 5] = 0.2, 0.4, 0.7
    np.testing.assert_allclose(region_scores(score, lab, n), [0.4, 0.7])
    np.testing.assert_allclose(region_scores(score, lab, n, "mean"), [0.3, 0.7 / 4])
    gt, n_gt = components(square(0, 0))  # 16 px; a 4x4 square shifted by 2 px shares 8
    pred, n_pred = components(square(0, 2))
    np.testing.assert_allclose(iou_matrix(pred, n_pred, gt, n_gt), [[8 / 24]])
    assert iou_matrix(pred, n_pred, gt, 0).shape == (1, 0)


def test_ucsd_statistic_and_equal_error_rate():
    s = np.zeros((H, W))
    mask = np.zeros((H, W), bool)
    mask[0, :5] = True
    s[0, :5] = [0.9, 0.8, 0.5, 0.2, 0.1]
    s[10, 10] = 0.95
    assert ucsd_frame_statistic(s, mask) == 0.8  # ceil(0.4 * 5) = 2nd largest in the mask
    assert ucsd_frame_statistic(s, np.zeros((H, W), bool)) == 0.95  # normal frame: the max
    assert equal_error_rate([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])[0] == 0.0
    assert equal_error_rate([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1])[0] == 1.0
    assert equal_error_rate([1, 1], [0.1, 0.2]) is None


def test_pixel_histogram_matches_sklearn_within_bin_resolution():
    rng = np.random.default_rng(0)
    labels = rng.random(20000) < 0.05
    scores = np.where(labels, rng.random(20000) ** 2, rng.random(20000) ** 4).astype(np.float32)
    scores[:50] = 0.0  # exact zeros share the lowest bin
    h = PixelScoreHistogram()
    h.add(scores[:7000], labels[:7000])
    h.add(scores[7000:], labels[7000:])
    assert h.auc() == pytest.approx(roc_auc_score(labels, scores), abs=2e-4)
    assert h.average_precision() == pytest.approx(average_precision_score(labels, scores), abs=2e-4)
    with pytest.raises(ValueError, match="finite"):
        h.add(np.array([np.nan]), np.array([True]))


def test_error_map_mean_is_the_psnr_mse():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (3, 8, 8, 2)).astype(np.float32)
    y = rng.uniform(-1, 1, (3, 8, 8, 2)).astype(np.float32)
    e = error_map(x, y)
    assert e.shape == (3, 8, 8) and e.dtype == np.float32
    np.testing.assert_allclose(-10 * np.log10(e.mean(axis=(1, 2))), frame_psnr(x, y), rtol=1e-5)


# ---------------------------------------------------------------- through evaluate


def bright_square_videos() -> list[Video]:
    """Two 8-frame videos of a dark 16x16 scene; an anomalous bright 4x4 square in frames 3-5."""
    out = []
    for name in ("a", "b"):
        frames = np.zeros((8, 16, 16, 1), np.uint8)
        masks = np.zeros((8, 16, 16), bool)
        for f in (3, 4, 5):
            masks[f, 4:8, 4 + f : 8 + f] = True
        frames[masks] = 255
        out.append(Video(name, frames, masks.reshape(8, -1).any(1).astype(np.int8), masks))
    return out


def misses_bright_pixels(batch: np.ndarray) -> np.ndarray:
    """A model that reconstructs everything but the bright pixels (error map 1 there, 0 else)."""
    return np.where(batch > 0.5, -1.0, batch).astype(np.float32)


def test_evaluate_with_a_localiser_perfect_then_shifted_masks(tmp_path):
    videos = bright_square_videos()
    # 3 x 16 bright pixels of 5 x 256 per video: the 0.95-quantile is 0, regions = error > 0
    localiser = Localiser(region_quantile=0.95)
    r = evaluate(videos, misses_bright_pixels, clip_len=4, batch_size=3, localiser=localiser)
    loc = r.localisation
    assert loc.counts["frames"] == r.n_scored == 2 * 5
    assert loc.rbdc.auc == 1.0 and loc.tbdc.auc == 1.0 and loc.pixel_auc == 1.0
    assert loc.counts["gt_tracks"] == 2  # one per video: no link across videos
    s = r.summary()
    assert s["localisation"]["rbdc"] == 1.0 and s["localisation"]["params"]["iou"] == 0.1
    metrics = write_metrics_csv(r, tmp_path / "metrics.csv").read_text().splitlines()
    assert "rbdc,1.0" in metrics and "micro_auc,1.0" in metrics
    rows = write_frames_csv(loc, tmp_path / "loc.csv").read_text().splitlines()
    assert len(rows) == 11 and rows[0].startswith("video,frame,anomalous")
    pngs = plot_localisation(loc.figure_frames, tmp_path)
    assert [p.name for p in pngs] == ["localisation_a.png", "localisation_b.png"]

    def shifted(v: Video) -> np.ndarray:
        return np.roll(v.masks, 8, axis=1)

    localiser = Localiser(shifted, region_threshold=0.5)
    r = evaluate(videos, misses_bright_pixels, clip_len=4, localiser=localiser)
    assert r.localisation.rbdc.auc == 0.0 and r.localisation.tbdc.auc == 0.0


def test_error_maps_are_resized_to_the_mask_size():
    videos = bright_square_videos()

    def big_masks(v: Video) -> np.ndarray:  # the same masks at 4x the frames' size
        return np.repeat(np.repeat(v.masks, 4, axis=1), 4, axis=2)

    localiser = Localiser(big_masks, region_threshold=0.5)
    r = evaluate(videos, misses_bright_pixels, clip_len=4, localiser=localiser)
    assert r.localisation.counts["pixels"] == 10 * 64 * 64
    assert r.localisation.rbdc.auc == 1.0
    assert r.localisation.figure_frames[0].error.shape == (64, 64)


def test_load_pixel_masks_at_the_files_size(tmp_path):
    root = tmp_path / "ds" / "testing"
    for sub in ("frames/01", "pixel_masks/01"):
        (root / sub).mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(root / "frames/01" / f"{i:03d}.jpg"), np.zeros((12, 20), np.uint8))
        m = np.zeros((12, 20), np.uint8)
        m[2:4, 3 + i : 6 + i] = 255
        cv2.imwrite(str(root / "pixel_masks/01" / f"{i:03d}.png"), m)
    video = Video("01", np.zeros((3, 4, 4, 1), np.uint8), None, None, root / "frames/01")
    masks = load_pixel_masks(video)
    assert masks.shape == (3, 12, 20) and masks.dtype == bool
    assert masks.sum(axis=(1, 2)).tolist() == [6, 6, 6] and masks[2, 2, 5:8].all()
    assert load_pixel_masks(Video("x", video.frames, None, None, None)) is None
    (root / "pixel_masks/01/002.png").unlink()
    with pytest.raises(ValueError, match="have 2 files but video '01' has 3 frames"):
        load_pixel_masks(video)


@pytest.mark.realdata
def test_ped2_masks_at_their_native_size():
    root = Path(__file__).resolve().parents[2] / "shared/datasets/ped2/testing/frames/04"
    if not root.is_dir():
        pytest.skip("Ped2 not available")
    video = Video("04", np.zeros((180, 4, 4, 1), np.uint8), None, None, root)
    masks = load_pixel_masks(video)
    assert masks.shape == (180, 240, 360)
    labels = np.load(root.parents[2] / "frame_labels_ped2.npy")[0, 360 + 150 : 360 + 150 + 180]
    np.testing.assert_array_equal(masks.reshape(180, -1).any(1), labels.astype(bool))
