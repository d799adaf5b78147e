"""Deformable-DETR decoder whose sampling references stay at the initial boxes (released Groma proposer)."""
from typing import Optional, Tuple

import torch
from mmdet.models.layers import DeformableDetrTransformerDecoder
from mmdet.models.layers.transformer import inverse_sigmoid
from torch import Tensor, nn


class FixedReferenceDecoder(DeformableDetrTransformerDecoder):
    """mmdet's Deformable-DETR decoder, except that the reference boxes are never updated between layers.

    In the released Groma proposer the line that feeds each layer's refined box to the next layer is
    commented out: every layer samples the encoder memory around the *initial* (two-stage top-k) boxes,
    while each layer still predicts its own refinement of those boxes,

        ``ref_l = sigmoid(reg_branches[l](h_l) + inverse_sigmoid(init))``.

    Those ``ref_l`` are returned in place of mmdet's updated references, so the head's box for layer ``l``
    (``sigmoid(reg_branches[l](h_l) + inverse_sigmoid(ref_{l-1}))``) is the official two-delta box. They
    are not detached (the official model lets the box loss reach the previous layer through them).
    """

    def forward(self,
                query: Tensor,
                query_pos: Tensor,
                value: Tensor,
                key_padding_mask: Optional[Tensor],
                reference_points: Tensor,
                spatial_shapes: Tensor,
                level_start_index: Tensor,
                valid_ratios: Tensor,
                reg_branches: Optional[nn.ModuleList] = None,
                **kwargs) -> Tuple[Tensor, Tensor]:
        """Run all layers around the fixed reference boxes.

        Args:
            query, query_pos: (bs, num_queries, dim) content and positional queries.
            value: (bs, num_value, dim) encoder memory.
            key_padding_mask: (bs, num_value) or None.
            reference_points: (bs, num_queries, 4) initial boxes, normalized cxcywh.
            spatial_shapes, level_start_index, valid_ratios: as mmdet's decoder.
            reg_branches: the head's box branches (one per layer at least).

        Returns:
            hidden states (num_layers, bs, num_queries, dim) and refined boxes
            ``ref_l`` (num_layers, bs, num_queries, 4), normalized cxcywh.
        """
        if reference_points.shape[-1] != 4 or reg_branches is None:
            raise ValueError('FixedReferenceDecoder needs 4-d reference boxes and the box branches '
                             '(a two-stage detector with box refinement)')
        if not self.return_intermediate:
            raise ValueError('FixedReferenceDecoder returns every layer: set return_intermediate=True')
        sampling_boxes = reference_points[:, :, None] * torch.cat([valid_ratios, valid_ratios], -1)[:, None]
        init_logits = inverse_sigmoid(reference_points)
        output = query
        hidden_states, refined = [], []
        for layer_id, layer in enumerate(self.layers):
            output = layer(
                output,
                query_pos=query_pos,
                value=value,
                key_padding_mask=key_padding_mask,
                spatial_shapes=spatial_shapes,
                level_start_index=level_start_index,
                valid_ratios=valid_ratios,
                reference_points=sampling_boxes,
                **kwargs)
            hidden_states.append(output)
            refined.append((reg_branches[layer_id](output) + init_logits).sigmoid())
        return torch.stack(hidden_states), torch.stack(refined)
