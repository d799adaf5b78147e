"""Ground-truth boxes as region proposals: the upper bound of a proposer, for measurements and tests."""
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Sequence, Union

import torch
from mmengine.fileio import load
from mmengine.structures import InstanceData
from torch import nn

from groma_mm.datasets.class_agnostic_coco import coco_xywh_to_xyxy
from groma_mm.models.proposers.groma_proposer import to_input_frame
from groma_mm.registry import MODELS


def boxes_by_image(ann_files: Sequence[str], img_prefix: str = '') -> Dict[str, List[List[float]]]:
    """``img_prefix/file_name`` → the image's xyxy boxes (original pixels), from COCO instances files."""
    out = defaultdict(list)
    for ann_file in ann_files:
        coco = load(ann_file)
        names = {img['id']: osp.join(img_prefix, img['file_name']) for img in coco['images']}
        for ann in coco['annotations']:
            out[names[ann['image_id']]].append(coco_xywh_to_xyxy(ann['bbox']))
    return dict(out)


@MODELS.register_module()
class GroundTruthProposer(nn.Module):
    """Proposes each image's ground-truth boxes, looked up by ``img_path``, in annotation order.

    A drop-in for Groma's proposer (it has the ``backbone`` the MLLM's encoder is, and ``propose``), so a
    trained model can be scored with perfect proposals, and tests can train the MLLM without stage 1.

    Args:
        backbone: the image encoder: a config, or a built module (e.g. a trained proposer's backbone).
        boxes: ``img_path`` → boxes xyxy original pixels; or COCO instances files (a path or a list),
            whose ``file_name`` joined to ``img_prefix`` is the key.
        img_prefix: folder of the images when ``boxes`` are files.
    """

    def __init__(self, backbone: Union[dict, nn.Module], boxes: Union[str, Sequence[str], dict],
                 img_prefix: str = '') -> None:
        super().__init__()
        self.backbone = MODELS.build(backbone) if isinstance(backbone, dict) else backbone
        if isinstance(boxes, str):
            boxes = [boxes]
        self.boxes = dict(boxes) if isinstance(boxes, dict) else boxes_by_image(boxes, img_prefix)

    def init_weights(self) -> None:
        if hasattr(self.backbone, 'init_weights'):
            self.backbone.init_weights()

    def propose(self, encoder_feats, data_samples) -> List[InstanceData]:
        """Per sample: ``bboxes`` (n, 4) in encoder-input pixels and decreasing ``scores`` (n,) in (0.5, 0.9]."""
        out = []
        for sample in data_samples:
            if sample.img_path not in self.boxes:
                raise KeyError(f'GroundTruthProposer has no boxes for {sample.img_path!r}')
            boxes = torch.tensor(self.boxes[sample.img_path], dtype=torch.float32).reshape(-1, 4)
            device = encoder_feats[0].device
            out.append(InstanceData(bboxes=to_input_frame(boxes, sample).to(device),
                                    scores=torch.linspace(0.9, 0.5, len(boxes), device=device)))
        return out
