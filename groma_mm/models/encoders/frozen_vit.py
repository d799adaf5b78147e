"""mmpretrain ``VisionTransformer`` whose frozen stages stay frozen under ``.train()``."""
from mmpretrain.models.backbones import VisionTransformer

from groma_mm.registry import MODELS


@MODELS.register_module()
class FreezableVisionTransformer(VisionTransformer):
    """mmpretrain ``VisionTransformer`` (same args, same weights) that keeps ``frozen_stages`` frozen.

    mmpretrain 1.2 freezes only once, in ``__init__``: a later ``model.train()`` (every Runner calls it)
    puts the frozen layers back in train mode (dropout / drop-path active again). Here ``train()``
    re-applies the freeze, and with ``frozen_stages >= num_layers`` (Groma's frozen DINOv2) the whole
    encoder, including ``pre_norm`` and the module itself, stays in eval mode.

    Input (B, 3, H, W); output as ``VisionTransformer`` (``out_type='featmap'``: per out index
    (B, C, H/p, W/p)).
    """

    @property
    def fully_frozen(self) -> bool:
        return self.frozen_stages >= self.num_layers

    def _freeze_stages(self):
        super()._freeze_stages()
        if self.fully_frozen:
            for param in self.parameters():
                param.requires_grad = False
            super().train(False)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen_stages > 0:
            self._freeze_stages()
        return self
