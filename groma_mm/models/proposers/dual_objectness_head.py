"""Deformable-DETR head with two objectness classifiers, one per kind of box annotation (released Groma)."""
import copy
from typing import Dict, List, Optional, Tuple

import torch
from mmcv.cnn import Linear
from mmdet.models.dense_heads import DeformableDETRHead
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmengine.model import bias_init_with_prob
from mmengine.structures import InstanceData
from torch import Tensor, nn

from groma_mm.registry import MODELS

HEADS = ('coco', 'sa1b')


@MODELS.register_module()
class DualObjectnessHead(DeformableDETRHead):
    """Class-agnostic Deformable-DETR head with a COCO-style and an SA-1B objectness classifier.

    The released Groma proposer was trained on detection datasets (COCO, Objects365, OpenImages, V3Det)
    and on SA-1B, whose "every segment" boxes mean something else by "object". It keeps one objectness
    classifier per kind (``coco``, ``sa1b``) over shared queries and boxes:

    * in training each image is scored by the classifier of its source (``data_sample.source``; a
      source listed in ``source_heads`` picks that head, any other source or none picks ``coco``), with
      mmdet's DETR losses (Hungarian matching, focal + L1 + GIoU, every decoder layer, and the encoder
      proposals);
    * at inference the score is ``sigmoid(coco)^w_coco * sigmoid(sa1b)^w_sa1b`` of the last layer
      (0.4 / 0.6 as released).

    Parameters (``L`` decoder layers; the detector must be two-stage with box refinement):

    * ``cls_branches`` (L + 1, mmdet's layout): ``[0, L)`` the ``coco`` classifiers, ``[L]`` the encoder
      proposal classifier;
    * ``sa1b_cls_branches`` (L): the ``sa1b`` classifiers;
    * ``reg_branches`` (L + 1): box MLPs with ``reg_hidden_dims`` hidden units (the released model uses 256
      whatever the DETR width), ``[L]`` for the encoder proposals.

    Args:
        reg_hidden_dims: hidden width of the box MLPs; defaults to ``embed_dims``.
        score_weights: exponents of the two sigmoid scores in the fused inference score.
        source_heads: data source → head name, for sources that are not scored by ``coco``.
        *args, **kwargs: as mmdet's ``DeformableDETRHead`` (``num_classes`` must be 1).
    """

    def __init__(self,
                 *args,
                 reg_hidden_dims: Optional[int] = None,
                 score_weights: Dict[str, float] = dict(coco=0.4, sa1b=0.6),
                 source_heads: Dict[str, str] = dict(sa1b='sa1b'),
                 **kwargs) -> None:
        self.reg_hidden_dims = reg_hidden_dims
        super().__init__(*args, **kwargs)
        if self.num_classes != 1:
            raise ValueError(f'DualObjectnessHead is class-agnostic: num_classes must be 1, got {self.num_classes}')
        if set(score_weights) != set(HEADS):
            raise ValueError(f'score_weights must give an exponent for each head {HEADS}, got {dict(score_weights)}')
        unknown = sorted(set(source_heads.values()) - set(HEADS))
        if unknown:
            raise ValueError(f'source_heads names unknown heads {unknown}; the heads are {HEADS}')
        self.score_weights = dict(score_weights)
        self.source_heads = dict(source_heads)

    def _init_layers(self) -> None:
        if not self.as_two_stage or self.share_pred_layer:
            raise ValueError('DualObjectnessHead belongs to a two-stage Deformable DETR with box refinement')
        fc_cls = Linear(self.embed_dims, self.cls_out_channels)
        self.cls_branches = nn.ModuleList([copy.deepcopy(fc_cls) for _ in range(self.num_pred_layer)])
        self.sa1b_cls_branches = nn.ModuleList([copy.deepcopy(fc_cls) for _ in range(self.num_pred_layer - 1)])
        hidden = self.reg_hidden_dims or self.embed_dims
        dims = [self.embed_dims] + [hidden] * self.num_reg_fcs
        layers = []
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            layers += [Linear(d_in, d_out), nn.ReLU()]
        reg_branch = nn.Sequential(*layers, Linear(dims[-1], 4))
        self.reg_branches = nn.ModuleList([copy.deepcopy(reg_branch) for _ in range(self.num_pred_layer)])

    def init_weights(self) -> None:
        super().init_weights()
        if self.loss_cls.use_sigmoid:
            for m in self.sa1b_cls_branches:
                nn.init.constant_(m.bias, bias_init_with_prob(0.01))

    def forward(self, hidden_states: Tensor, references: List[Tensor]) -> Tuple[Dict[str, Tensor], Tensor]:
        """Per-head objectness logits and boxes of every decoder layer.

        Args:
            hidden_states: (L, bs, num_queries, dim).
            references: L + 1 tensors (bs, num_queries, 4): the initial boxes, then the decoder's
                refined boxes; layer ``l`` refines ``references[l]``.

        Returns:
            ``{head: (L, bs, num_queries, 1)}`` logits and (L, bs, num_queries, 4) boxes, normalized cxcywh.
        """
        coco_logits, boxes = super().forward(hidden_states, references)
        sa1b_logits = torch.stack([branch(h) for branch, h in zip(self.sa1b_cls_branches, hidden_states)])
        return dict(coco=coco_logits, sa1b=sa1b_logits), boxes

    def head_of(self, data_sample) -> str:
        """Name of the head that scores this sample in training."""
        return self.source_heads.get(data_sample.metainfo.get('source'), 'coco')

    def fused_scores(self, logits: Dict[str, Tensor]) -> Tensor:
        """(L, bs, nq, 1) logits per head → (bs, nq) fused last-layer scores."""
        score = None
        for head in HEADS:
            term = logits[head][-1, ..., 0].sigmoid()**self.score_weights[head]
            score = term if score is None else score * term
        return score

    def loss(self, hidden_states: Tensor, references: List[Tensor], enc_outputs_class: Tensor,
             enc_outputs_coord: Tensor, batch_data_samples: SampleList) -> dict:
        """mmdet's Deformable-DETR losses, each image scored by the head of its source."""
        logits, boxes = self(hidden_states, references)
        cls_scores = torch.stack([logits[self.head_of(s)][:, i] for i, s in enumerate(batch_data_samples)], dim=1)
        return self.loss_by_feat(cls_scores, boxes, enc_outputs_class, enc_outputs_coord,
                                 [s.gt_instances for s in batch_data_samples],
                                 [s.metainfo for s in batch_data_samples])

    def predict(self,
                hidden_states: Tensor,
                references: List[Tensor],
                batch_data_samples: SampleList,
                rescale: bool = True) -> List[InstanceData]:
        """Every query's last-layer box with its fused score, in query order (no NMS, no top-k).

        Returns:
            One InstanceData per image: ``bboxes`` (num_queries, 4) xyxy pixels of ``img_shape`` (or of the
            original image with ``rescale``), not clipped; ``scores`` (num_queries,); ``labels`` zeros.
        """
        logits, boxes = self(hidden_states, references)
        scores = self.fused_scores(logits)
        results = []
        for sample, image_boxes, image_scores in zip(batch_data_samples, boxes[-1], scores):
            img_h, img_w = sample.metainfo['img_shape'][:2]
            bboxes = bbox_cxcywh_to_xyxy(image_boxes) * image_boxes.new_tensor([img_w, img_h, img_w, img_h])
            if rescale:
                bboxes = bboxes / bboxes.new_tensor(sample.metainfo['scale_factor']).repeat(2)
            result = InstanceData(bboxes=bboxes, scores=image_scores)
            result.labels = image_scores.new_zeros(image_scores.shape, dtype=torch.long)
            results.append(result)
        return results
