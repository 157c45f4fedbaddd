"""``pseudoanom.bench``: the rows it times and the ``(blend floor)`` it compares against.

Only correctness: speed itself is measured by running the bench, never in a test.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pseudoanom import bench
from pseudoanom.validation import InvalidClipError


@pytest.fixture(autouse=True)
def _keep_opencv_threads():
    threads = cv2.getNumThreads()  # bench.run sets one thread for the process
    yield
    cv2.setNumThreads(threads)


def test_rows_in_order_with_every_repeat():
    res = bench.run(
        ["smoothmix_c", "skip_frame"], seconds=0.01, t=4, size=24, video_frames=12,
        repeat=2, detailed=True,
    )  # fmt: skip
    assert [name for name, _ in res] == [
        "(floor)", "(floor+mask)", "(blend floor)", "smoothmix_c", "smoothmix_c (object)",
        "skip_frame",
    ]  # fmt: skip
    for _, rates in res:
        assert len(rates) == 2 and all(w > 0 and c > 0 for w, c in rates)
    best = bench.run(["cutmix"], seconds=0.01, t=4, size=24, floor=False, contents=("window",))
    assert [name for name, _ in best] == ["cutmix"] and best[0][1] > 0


def test_uint8_has_no_blend_floor():
    res = bench.run(["cutmix"], seconds=0.01, t=4, size=24, dtype="uint8")
    assert [name for name, _ in res] == ["(floor)", "(floor+mask)", "cutmix", "cutmix (object)"]


def test_blend_floor_blends_every_pixel_exactly_and_checks_the_clip():
    rng = np.random.default_rng(0)
    clip = rng.uniform(-1.0, 1.0, (5, 9, 7, 1)).astype(np.float32)
    inv, content = bench._fixed_blend_weights((9, 7), rng)
    out = bench._check_blend_frames(clip, inv, content)
    want = (clip[..., 0] * inv) + content  # float32 ops: two roundings, as OpenCV's
    assert out.dtype == np.float32 and out[..., 0].tobytes() == want.tobytes()
    clip[3, 2, 1, 0] = np.nan
    with pytest.raises(InvalidClipError, match="NaN"):
        bench._check_blend_frames(clip, inv, content)
    clip[3, 2, 1, 0] = 1.5
    with pytest.raises(InvalidClipError, match="range"):
        bench._check_blend_frames(clip, inv, content)
