"""Dataset layouts, one module per family, detected from the folder given to ``--data``.

* :mod:`trainer.datasets.ucsd_ped`: UCSD Ped1/Ped2 as the UCSD archive ships them
  (``Train/Train001/*.tif``, ``Test/Test001_gt/``, ``UCSDped2.m``);
* :mod:`trainer.datasets.avenue`: CUHK Avenue as published (``training_videos/NN.avi``,
  ``testing_videos/NN.avi``, ``ground_truth_demo/testing_label_mask/N_label.mat``);
* :mod:`trainer.datasets.shanghaitech`: ShanghaiTech Campus as published
  (``training/videos/*.avi``, ``testing/frames/<video>/``, ``testing/test_frame_mask/``,
  ``testing/test_pixel_mask/``);
* :mod:`trainer.datasets.frames`: the frames layout of the paper authors' code
  (``{training,testing}/frames/<video>/`` with ``frame_labels_{ped2,avenue,shanghai}.npy``),
  video files in the split folders too.

:func:`load_split` reads a split of any of them; a folder in none gets one
:class:`~trainer.data.DatasetError` listing the layouts accepted and what the folder holds.
Test frame labels come from the dataset's frame-label files by default (the labels published
AUCs use); ``label_source="masks"`` derives them from the pixel masks instead.
"""

from trainer.datasets.loading import (
    LABEL_SOURCES,
    LAYOUTS,
    detect_layout,
    load_pixel_masks,
    load_split,
)

__all__ = ["LABEL_SOURCES", "LAYOUTS", "detect_layout", "load_pixel_masks", "load_split"]
