"""Packing an MLLM sample for the model."""
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet.structures import DetDataSample

from groma_mm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackGromaInputs(BaseTransform):
    """Image tensor + a ``DetDataSample`` holding the conversation and its boxes.

    Required keys: ``img`` (H, W, 3), ``conversation``; optional: ``bboxes`` (M, 4) xyxy original
    pixels, ``grounding``, ``task``, ``gt`` (evaluation ground truth, a dict whose keys land in the
    metainfo, e.g. ``gt_bboxes``, ``gt_captions``, ``split``) and the usual image metas.

    Boxes stay in original-image pixels; the model maps them to the encoder input with ``scale_factor``.
    """

    meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'sample_idx', 'conversation',
                 'grounding', 'task')

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = DetDataSample()
        sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        sample.set_metainfo(dict(results.get('gt') or {}))
        bboxes = results.get('bboxes')
        sample.bboxes = torch.as_tensor(np.zeros((0, 4)) if bboxes is None else np.asarray(bboxes),
                                        dtype=torch.float32).reshape(-1, 4)
        return dict(inputs=inputs, data_samples=sample)
