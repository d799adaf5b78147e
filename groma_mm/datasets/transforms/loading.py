"""Image loading that skips, logs and counts unreadable files instead of crashing a long run."""
from typing import Optional

from mmcv.transforms import LoadImageFromFile
from mmengine.logging import MMLogger

from groma_mm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RobustLoadImageFromFile(LoadImageFromFile):
    """mmcv ``LoadImageFromFile`` that returns ``None`` for an image it cannot read, with a warning.

    A file can vanish or break after the dataset checked it at load time. mmcv's ``ignore_empty=True``
    only covers part of it, silently: a missing or empty file gives ``None`` without a word, while bytes
    that do not decode still fail its ``assert img is not None`` and stop training. This transform turns
    every read or decode failure into ``None``, which makes mmengine's ``BaseDataset.__getitem__`` fetch
    another index in training (in ``test_mode`` mmengine raises, after this warning named the file).

    Required keys: ``img_path``. Added keys: ``img`` (H, W, 3) uint8 (or float32), ``img_shape``,
    ``ori_shape`` (h, w).

    Args:
        same as mmcv ``LoadImageFromFile``.

    Attributes:
        num_failures (int): unreadable images met so far by this instance (one per dataloader worker).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.num_failures = 0

    def transform(self, results: dict) -> Optional[dict]:
        try:
            loaded = super().transform(results)
            why = 'file missing or empty'  # what makes mmcv return None under ignore_empty=True
        except Exception as err:  # noqa: BLE001 — one unreadable image must not end the run
            loaded, why = None, f'{type(err).__name__}: {err}'
        if loaded is None:
            self.num_failures += 1
            MMLogger.get_current_instance().warning(
                f'{type(self).__name__}: cannot read image {results["img_path"]} (img_id='
                f'{results.get("img_id")}): {why}; skipped ({self.num_failures} unreadable so far here).')
        return loaded
