"""Raw proposals of a frozen proposer, kept per image across batches.

In stages 2 and 3 the proposer is frozen and in eval mode, so an image's proposals are the same every time it
comes back: in the next epoch, or with its next expression (RefCOCO holds about seven per image, and a
REC-heavy batch rarely holds two of one image). On the toy configs the proposer's transformer is more than
half of a stage-2 step on CPU, and this cache removes it after an image's first visit.

An image is known by a digest of its encoder input (pixels, padded shape) and its ``img_shape`` (the valid
area the proposer masks), so a flipped or rescaled view of a file is another image, and two files with equal
pixels share their proposals, which are equal.
"""
import hashlib
from collections import OrderedDict
from typing import Callable, List, Optional

from mmengine.structures import InstanceData
from torch import Tensor


class ProposalCache:
    """The raw proposals (``InstanceData``) of up to ``max_images`` images, least recently used out first.

    Args:
        max_images: how many images' proposals are kept (> 0).
    """

    def __init__(self, max_images: int) -> None:
        if max_images < 1:
            raise ValueError(f'a proposal cache keeps at least 1 image, got max_images={max_images}')
        self.max_images = max_images
        self._entries: 'OrderedDict[bytes, InstanceData]' = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def key(image: Tensor, sample) -> bytes:
        """The identity of one encoder input ``image`` (C, H, W) with its sample's ``img_shape``."""
        digest = hashlib.blake2b(image.detach().contiguous().cpu().numpy().tobytes(), digest_size=20)
        digest.update(repr((tuple(image.shape), str(image.dtype), tuple(sample.get('img_shape', ())))).encode())
        return digest.digest()

    def get(self, key: bytes) -> Optional[InstanceData]:
        proposals = self._entries.get(key)
        if proposals is not None:
            self._entries.move_to_end(key)
        return proposals

    def put(self, key: bytes, proposals: InstanceData) -> None:
        self._entries[key] = proposals
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_images:
            self._entries.popitem(last=False)

    def forget_all(self, *hook_args) -> None:
        """Empty the cache; also a ``load_state_dict`` post-hook of the proposer (``hook_args``: the module
        and its incompatible keys), since new weights make every kept proposal stale."""
        self._entries.clear()

    def fetch(self, images: Tensor, samples: List,
              compute: Callable[[List[int]], List[InstanceData]]) -> List[InstanceData]:
        """The proposals of each image of ``images`` (U, C, H, W) with its sample: those kept, and for the
        others ``compute(indices)`` (their proposals, in that order), which are kept from then on."""
        keys = [self.key(image, sample) for image, sample in zip(images, samples)]
        found = [self.get(key) for key in keys]
        missing = [u for u, proposals in enumerate(found) if proposals is None]
        if missing:
            for u, proposals in zip(missing, compute(missing)):
                found[u] = proposals
                self.put(keys[u], proposals)
        return found
