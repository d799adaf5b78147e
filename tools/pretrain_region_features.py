"""Pretrain a toy config's region feature encoder on the synthetic world's attribute labels.

    python tools/pretrain_region_features.py CONFIG --out FILE [--world data/synthetic_world]
        [--steps 200] [--images-per-step 16] [--lr 3e-3] [--seed 0] [--cfg-options ...]

Groma's region tokens read DINOv2, which comes pretrained: its features tell colours, shapes and sizes apart
before Groma trains anything. The toy configs' stand-in (``FrozenConvEncoder``, ``model.region_feature_encoder``)
is random; its RoIAlign crops keep shape and size only in a few weak directions, and alignment (stage 2,
frozen LLM) does not find them for most stage-0 LLMs (docs/main_job.md). This tool is that encoder's own
pretraining: RoIAlign crops of the training objects' ground-truth boxes, read at the layer and crop size the
region encoder reads (``model.region_layers``, ``model.region_encoder.roi_size``), with one linear head per
attribute (colour, shape, size), cross-entropy, Adam. It prints the heads' accuracy on the training and
held-out objects and writes the encoder's weights to ``--out`` (a state dict), which
``model.region_feature_encoder.checkpoint=FILE`` loads; Groma keeps them frozen in stages 2 and 3, as the
paper keeps DINOv2. The heads are thrown away.
"""
import argparse
import json
import time

import mmcv
import torch
from mmengine.config import DictAction
from torch import nn
from torch.nn import functional as F

from groma_mm.datasets.synthetic_world import ATTRIBUTES, world_objects
from groma_mm.models.region_encoders.roi_align import aligned_roi_align
from groma_mm.registry import MODELS
from groma_mm.utils import load_config, register_all_modules


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='a Groma config with a region_feature_encoder (e.g. the tiny stage-2 one)')
    parser.add_argument('--out', required=True, help='where the encoder weights go (torch.save state dict)')
    parser.add_argument('--world', default='data/synthetic_world', help='a world written by make_synthetic_world.py')
    parser.add_argument('--steps', type=int, default=200)
    parser.add_argument('--images-per-step', type=int, default=16, help='each step trains on all their objects')
    parser.add_argument('--lr', type=float, default=3e-3)
    parser.add_argument('--seed', type=int, default=0, help='image order and heads (the encoder starts at its seed)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    return parser.parse_args(argv)


class ObjectCrops:
    """One split's images (normalized as the model's data preprocessor does) and its objects' boxes and labels.

    Attributes:
        images: (N, 3, H, W); boxes: (K, 5) ``[image index, x1, y1, x2, y2]``; labels: (K, len(ATTRIBUTES)).
    """

    def __init__(self, objects: list, names: dict, preprocessor: dict):
        paths = list(dict.fromkeys(o['img_path'] for o in objects))
        mean = torch.tensor(preprocessor['mean'], dtype=torch.float)[:, None, None]
        std = torch.tensor(preprocessor['std'], dtype=torch.float)[:, None, None]
        order = 'rgb' if preprocessor.get('bgr_to_rgb') else 'bgr'
        self.images = torch.stack([
            (torch.from_numpy(mmcv.imread(p, channel_order=order).copy()).permute(2, 0, 1).float() - mean) / std
            for p in paths])
        index = {p: i for i, p in enumerate(paths)}
        self.boxes = torch.tensor([[index[o['img_path']], *o['box']] for o in objects], dtype=torch.float)
        unseen = sorted({f'{a} {o[a]!r} ({o["img_path"]})' for o in objects for a in ATTRIBUTES
                         if o[a] not in names[a]})
        if unseen:  # a held-out object with a value the training split never shows: no head class for it
            raise ValueError(f'no training object has {", ".join(unseen[:5])}: every colour, shape and size '
                             'needs training objects')
        self.labels = torch.tensor([[names[a].index(o[a]) for a in ATTRIBUTES] for o in objects])

    def pick(self, images: torch.Tensor):
        """Images ``images`` (indices) and their objects, the boxes re-indexed into that batch."""
        keep = torch.isin(self.boxes[:, 0].long(), images)
        position = torch.full((len(self.images), ), -1)
        position[images] = torch.arange(len(images))
        boxes = self.boxes[keep].clone()
        boxes[:, 0] = position[boxes[:, 0].long()].float()
        return self.images[images], boxes, self.labels[keep]


class AttributeProbe(nn.Module):
    """The encoder's layer ``layer``, RoIAlign ``roi_size``² of each box, one linear head per attribute."""

    def __init__(self, encoder: nn.Module, layer: int, roi_size: int, names: dict, image_size: int):
        super().__init__()
        self.encoder, self.layer, self.roi_size = encoder, layer, roi_size
        with torch.no_grad():
            feat = encoder(torch.zeros(1, 3, image_size, image_size))[layer]
        self.scale = feat.shape[-1] / image_size
        self.heads = nn.ModuleList(nn.Linear(feat.shape[1] * roi_size**2, len(names[a])) for a in ATTRIBUTES)

    def forward(self, images: torch.Tensor, boxes: torch.Tensor):
        feat = self.encoder(images)[self.layer]
        crops = aligned_roi_align(feat, boxes, self.roi_size, self.scale, 2).flatten(1)
        return [head(crops) for head in self.heads]


def accuracy(probe: AttributeProbe, data: ObjectCrops, chunk: int = 64) -> dict:
    """Per attribute, the share of ``data``'s objects whose head names their value."""
    right = torch.zeros(len(ATTRIBUTES))
    with torch.no_grad():
        for start in range(0, len(data.images), chunk):
            images, boxes, labels = data.pick(torch.arange(start, min(start + chunk, len(data.images))))
            for k, logits in enumerate(probe(images, boxes)):
                right[k] += (logits.argmax(-1) == labels[:, k]).sum()
    return {a: round(float(r) / len(data.labels), 4) for a, r in zip(ATTRIBUTES, right)}


def main(argv=None):
    args = parse_args(argv)
    register_all_modules()
    cfg = load_config(args.config, args.cfg_options)
    model_cfg = cfg.model
    if not model_cfg.get('region_feature_encoder'):
        raise ValueError(f'{args.config} has no model.region_feature_encoder: its region encoder reads the '
                         'proposer\'s encoder, which stage 1 trains')
    torch.manual_seed(args.seed)
    encoder = MODELS.build(model_cfg.region_feature_encoder)
    encoder.requires_grad_(True)
    objects = world_objects(args.world)
    missing = [s for s in ('train', 'val') if not objects.get(s)]
    if missing:
        raise ValueError(f'the world at {args.world} has no objects in its {" and ".join(missing)} split')
    names = {a: sorted({o[a] for o in objects['train']}) for a in ATTRIBUTES}
    train, val = (ObjectCrops(objects[s], names, model_cfg.data_preprocessor) for s in ('train', 'val'))
    probe = AttributeProbe(encoder, model_cfg.get('region_layers', (-1, ))[-1], model_cfg.region_encoder.roi_size,
                           names, train.images.shape[-1])
    optimizer = torch.optim.Adam(probe.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)
    start = time.time()
    for step in range(1, args.steps + 1):
        images = torch.randperm(len(train.images), generator=gen)[:args.images_per_step]
        batch_images, boxes, labels = train.pick(images)
        loss = sum(F.cross_entropy(logits, labels[:, k]) for k, logits in enumerate(probe(batch_images, boxes)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 0 or step == args.steps:
            print(f'region features step {step}/{args.steps}  loss {loss.item():.4f}  {time.time() - start:.0f} s',
                  flush=True)
    report = dict(steps=args.steps, seconds=round(time.time() - start, 1), train=accuracy(probe, train),
                  held_out=accuracy(probe, val))
    torch.save(encoder.state_dict(), args.out)
    print('attribute accuracy of linear heads on the region features (train / held-out objects): ' +
          ', '.join(f'{a} {report["train"][a]:.3f} / {report["held_out"][a]:.3f}' for a in ATTRIBUTES))
    print(f'region feature encoder weights: {args.out}')
    print(json.dumps(report))
    return report


if __name__ == '__main__':
    main()
