"""The region proposer of the released Groma checkpoints, as an mmdet two-stage Deformable DETR."""
from typing import Dict, Optional, Tuple

from mmdet.models.detectors import DeformableDETR
from torch import Tensor, nn

from groma_mm.registry import MODELS, TASK_UTILS
from .fixed_reference_decoder import FixedReferenceDecoder
from .region_prediction import RegionPredictionMixin


@MODELS.register_module()
class OfficialGromaProposer(RegionPredictionMixin, DeformableDETR):
    """Class-agnostic Deformable DETR exactly as in ``groma-det-pretrain`` (and the proposer of groma-7b).

    mmdet's two-stage ``DeformableDETR`` with box refinement, with the released model's choices:

    * neck :class:`LayerMeanNeck` over the last 4 pre-final-LayerNorm encoder layers;
    * sine positions with temperature 10000 and offset −0.5 (``positional_encoding`` config);
    * two-stage queries: the positional query is the first half of ``pos_trans_norm(pos_trans(·))`` of the
      top-k encoder proposals (sine features of ``embed_dims / 2`` per coordinate), the content query is
      learned (``query_embedding``, one per query) instead of the second half;
    * :class:`FixedReferenceDecoder`: sampling references never move, boxes are refined per layer;
      no final decoder LayerNorm, no denoising;
    * :class:`DualObjectnessHead`: a COCO and an SA-1B objectness head, fused at inference.

    Regions come from :class:`RegionPredictionMixin` (``propose`` gives every query's box and fused score,
    unsorted, before NMS; ``predict`` post-processes for ``tools/test.py``).

    Args:
        post_processor: config of the region post-processor (``RegionPostProcessor``).
        *args, **kwargs: as mmdet's ``DeformableDETR``; ``as_two_stage`` and ``with_box_refine`` must be
            True and ``bbox_head`` a ``DualObjectnessHead``.
    """

    def __init__(self, *args, post_processor: dict = dict(type='RegionPostProcessor'), **kwargs) -> None:
        if not (kwargs.get('as_two_stage') and kwargs.get('with_box_refine')):
            raise ValueError('OfficialGromaProposer is two-stage with box refinement: set as_two_stage=True '
                             'and with_box_refine=True')
        super().__init__(*args, **kwargs)
        self.post_processor = TASK_UTILS.build(post_processor)

    def _init_layers(self) -> None:
        decoder_cfg = self.decoder
        super()._init_layers()
        # mmdet builds its own decoder class; the released model's one keeps the references fixed.
        self.decoder = FixedReferenceDecoder(**decoder_cfg)
        self.query_embedding = nn.Embedding(self.num_queries, self.embed_dims)

    def init_weights(self) -> None:
        super().init_weights()
        nn.init.normal_(self.query_embedding.weight)

    def get_proposal_pos_embed(self,
                               proposals: Tensor,
                               num_pos_feats: Optional[int] = None,
                               temperature: int = 10000) -> Tensor:
        """Sine features of (bs, nq, 4) proposal logits → (bs, nq, 2 * embed_dims).

        mmdet fixes 128 features per coordinate (right for width 256 only); the released model uses
        ``embed_dims / 2``, so any width works.
        """
        return super().get_proposal_pos_embed(proposals, num_pos_feats or self.embed_dims // 2, temperature)

    def pre_decoder(self, memory: Tensor, memory_mask: Tensor, spatial_shapes: Tensor) -> Tuple[Dict, Dict]:
        decoder_inputs, head_inputs = super().pre_decoder(memory, memory_mask, spatial_shapes)
        decoder_inputs['query'] = self.query_embedding.weight.unsqueeze(0).expand(memory.size(0), -1, -1)
        return decoder_inputs, head_inputs
