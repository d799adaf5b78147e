"""Why does a trained Groma pick the wrong region? Measurements on the synthetic world.

    python tools/analysis/diagnose_grounding.py CONFIG CHECKPOINT [--world data/synthetic_world]
        [--max-rec 200] [--word-bags] [--out-json FILE] [--cfg-options model.proposer_checkpoint=PATH ...]

CONFIG / CHECKPOINT are a stage-2 or stage-3 Groma (as for tools/test.py). Three measurements, printed as
one table (and written as JSON with ``--out-json``):

1. **Linear probes on region features**, for colour, shape and size: a multinomial logistic regression is
   fitted on the training objects' ground-truth boxes and scored on the held-out objects, for
   (a) the frozen encoder's features under the box (RoIAlign, 2×2 per layer the region encoder reads) and
   (b) the region tokens the LLM reads. Chance is the majority class of the held-out objects.
   Low (a): the encoder threw the attribute away. High (a), low (b): the region encoder loses it.
2. **REC Acc@0.5 on training vs held-out expressions** (the same greedy answers as tools/test.py), with
   how often the target is among the regions (IoU ≥ 0.5) and the chance level (mean 1 / #regions).
   Train ≈ held-out and both low: under-fitting; train ≫ held-out: over-fitting.
3. **REC with oracle regions**: the regions are the image's ground-truth boxes instead of the proposer's.
   Oracle ≫ proposer: the proposals are the bottleneck; oracle ≈ proposer: the LLM's choice is.
4. With ``--word-bags``, what the LLM does with perfectly aligned region tokens, two more REC rows:
   *word bags*: the oracle regions' tokens replaced by their objects' word bags (the sum of the LLM's
   input embeddings of the size, colour and shape words, what ``pretrain_toy_llm.py`` trains on), so no
   vision at all: low means the LLM cannot point, whatever the region tokens; and *fitted projector*:
   the region encoder's projector replaced by the least-squares linear map from its input to the word
   bags of the training objects, on proposer regions: the REC that alignment could reach with these
   region features. Word bags high and the model's REC low: stage 2's alignment is what fails.
   A third row, *word bags, image tokens zeroed*, tells whether the trained image tokens throw the LLM's
   lookup (word bags low, zeroed high), and the report gives the mean norm of the image tokens and of a
   word bag (stage 2 grows image tokens to 15-30 times a bag's norm, and some stage-0 LLMs stop pointing
   beside them).
"""
import argparse
import json
from collections import defaultdict
from contextlib import contextmanager
from typing import Optional

import numpy as np
import torch
from mmengine.config import Config, DictAction

from groma_mm.datasets.synthetic_world import ATTRIBUTES, world_objects


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--world', default='data/synthetic_world', help='the synthetic world the model saw')
    parser.add_argument('--max-rec', type=int, default=200, help='REC expressions per split (a seeded subset)')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--word-bags', action='store_true',
                        help='also REC with word-bag region tokens and with a projector fitted to word bags')
    parser.add_argument('--out-json', help='write every number here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. model.proposer_checkpoint=PATH')
    return parser.parse_args()


# ----------------------------------------------------------------------------------------------- data
def rec_samples(cfg: Config, world: str, split: str, limit: int, seed: int) -> list:
    """(img_path, expression, gt box) of the config's REC test set with ``split``, a seeded subset."""
    from groma_mm.registry import DATASETS
    ds_cfg = cfg.test_dataloader.dataset.copy()
    ds_cfg.update(split=split, test_mode=True, pipeline=[], data_root=world)
    ds = DATASETS.build(ds_cfg)
    picks = np.random.default_rng(seed).permutation(len(ds))[:limit]
    out = []
    for i in sorted(picks.tolist()):
        s = ds.get_data_info(i)
        out.append((s['img_path'], s['gt']['expression'], s['gt']['gt_bboxes'][0].tolist()))
    return out


# --------------------------------------------------------------------------------------------- probes
@torch.no_grad()
def region_features(model, inferencer, objects: list, batch_size: int):
    """Per object: frozen-encoder RoI features (N, F) and region tokens (N, D)."""
    from mmcv.ops import roi_align
    from mmengine.dataset import pseudo_collate
    from groma_mm.models.proposers import to_input_frame

    by_image = defaultdict(list)
    for k, obj in enumerate(objects):
        by_image[obj['img_path']].append(k)
    images = list(by_image)
    encoder_feats, tokens = [None] * len(objects), [None] * len(objects)
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        packed = [inferencer._prepare(i, p, [dict(role='user', content='')], None, False, {})
                  for i, p in enumerate(chunk)]
        data = model.data_preprocessor(pseudo_collate(packed), False)
        inputs, samples = data['inputs'], data['data_samples']
        feats = model.proposer.backbone(inputs)
        layers = model.region_layer_feats(feats, list(range(len(inputs))), inputs)
        boxes = [to_input_frame(torch.tensor([objects[k]['box'] for k in by_image[p]], dtype=torch.float), s)
                 for p, s in zip(chunk, samples)]
        region_tokens = model.region_encoder(layers, boxes, inputs.shape[-2:])
        rois = torch.cat([torch.cat([b.new_full((len(b), 1), i), b], 1) for i, b in enumerate(boxes)])
        # ViT feature maps are permuted views; mmcv's RoIAlign reads raw memory as NCHW.
        pooled = torch.cat([roi_align(x.contiguous(), rois, 2, x.shape[-1] / inputs.shape[-1], 2, 'avg',
                                      True).flatten(1) for x in layers], dim=1)
        flat = [k for p in chunk for k in by_image[p]]
        for row, k in enumerate(flat):
            encoder_feats[k] = pooled[row]
        for p, t in zip(chunk, region_tokens):
            for row, k in enumerate(by_image[p]):
                tokens[k] = t[row]
    return torch.stack(encoder_feats).float(), torch.stack(tokens).float()


def linear_probe(train_x, train_y, test_x, test_y, weight_decay: float = 1e-3, steps: int = 300) -> float:
    """Accuracy (%) on the test set of a multinomial logistic regression fitted on standardized features."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    classes = int(max(train_y.max(), test_y.max())) + 1
    torch.manual_seed(0)
    linear = torch.nn.Linear(train_x.shape[1], classes)
    optimizer = torch.optim.LBFGS(linear.parameters(), lr=0.5, max_iter=steps, line_search_fn='strong_wolfe')

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(train_x), train_y)
        loss = loss + weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return float((linear(test_x).argmax(1) == test_y).float().mean() * 100)


def probe_table(model, inferencer, objects: dict, batch_size: int) -> dict:
    feats = {split: region_features(model, inferencer, objects[split], batch_size) for split in ('train', 'val')}
    out = {}
    for attribute in ATTRIBUTES:
        names = sorted({o[attribute] for split in ('train', 'val') for o in objects[split]})
        labels = {split: torch.tensor([names.index(o[attribute]) for o in objects[split]]) for split in feats}
        counts = np.bincount(labels['val'].numpy(), minlength=len(names))
        out[attribute] = dict(
            encoder=linear_probe(feats['train'][0], labels['train'], feats['val'][0], labels['val']),
            region_token=linear_probe(feats['train'][1], labels['train'], feats['val'][1], labels['val']),
            chance=float(counts.max() / counts.sum() * 100))
    return out


# ------------------------------------------------------------------------------------------ word bags
def word_bags(model, objects: list) -> torch.Tensor:
    """(N, D): per object, the sum of the LLM's input embeddings of its size, colour and shape words."""
    vocab = model.tokenizer.get_vocab()
    missing = sorted({o[a] for o in objects for a in ('size', 'colour', 'shape')} - set(vocab))
    if missing:
        raise ValueError(f'--word-bags: the tokenizer lacks the attribute words {missing}')
    ids = torch.tensor([[vocab[o['size']], vocab[o['colour']], vocab[o['shape']]] for o in objects])
    return model.llm.get_input_embeddings()(ids).sum(1).float()


def fit_linear(x: torch.Tensor, y: torch.Tensor) -> torch.nn.Linear:
    """The least-squares affine map x (N, F) → y (N, D), as a Linear."""
    solution = torch.linalg.lstsq(torch.cat([x, x.new_ones(len(x), 1)], 1), y).solution
    linear = torch.nn.Linear(x.shape[1], y.shape[1])
    linear.weight.data.copy_(solution[:-1].T)
    linear.bias.data.copy_(solution[-1])
    return linear


def projector_inputs(model, inferencer, objects: list, batch_size: int) -> torch.Tensor:
    """(N, F): what the region encoder's projector receives for each object's ground-truth box."""
    seen = []
    handle = model.region_encoder.projector.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    try:
        region_features(model, inferencer, objects, batch_size)
    finally:
        handle.remove()
    return torch.cat(seen).float()


@contextmanager
def zeroed_image_tokens(model, norms: Optional[list] = None):
    """Within the block the image tokenizer gives zeros; ``norms`` (if given) receives the mean norm of
    the image tokens it replaced, one value per call."""
    def hook(module, args, out):
        if norms is not None:
            norms.append(float(out.norm(dim=-1).mean()))
        return torch.zeros_like(out)
    handle = model.image_tokenizer.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def bag_regions(bags_by_box: dict):
    """An ``encode_regions`` that gives each ground-truth region its object's word bag."""
    def bag(box: torch.Tensor) -> torch.Tensor:
        key = tuple(round(v) for v in box.tolist())
        if key not in bags_by_box:
            raise KeyError(f'--word-bags: region {key} is no ground-truth box of the world (it needs the oracle '
                           'regions, in pixels of images fed at their own size)')
        return bags_by_box[key]

    def encode(feats, image_of, regions_list, inputs):
        return [torch.stack([bag(box) for box in r.bboxes]) for r in regions_list]
    return encode


# ------------------------------------------------------------------------------------------------ REC
def box_iou(a, b) -> np.ndarray:
    """IoU of (N, 4) with (M, 4) xyxy boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None] - inter, 1e-9)


def rec_scores(inferencer, samples: list, batch_size: int) -> dict:
    """Acc@0.5 (%), target-in-regions recall (%) and chance (%) of greedy REC answers."""
    # An REC reply is '<roi><rK></roi>' and the end token.
    results = inferencer.ground([s[0] for s in samples], [s[1] for s in samples], batch_size=batch_size,
                                max_new_tokens=4)
    correct, covered, chance = [], [], []
    for (_, _, gt), result in zip(samples, results):
        correct.append(len(result.boxes) > 0 and box_iou(result.boxes[:1], [gt])[0, 0] >= 0.5)
        regions = result.regions.get('bboxes', np.zeros((0, 4)))
        covered.append(len(regions) > 0 and box_iou(regions, [gt]).max() >= 0.5)
        chance.append(1 / max(len(regions), 1))
    return dict(acc=float(np.mean(correct) * 100), target_in_regions=float(np.mean(covered) * 100),
                chance=float(np.mean(chance) * 100), num=len(samples))


def main():
    args = parse_args()
    from groma_mm.apis import GromaInferencer
    from groma_mm.testing import GroundTruthProposer
    from groma_mm.utils import load_config, register_all_modules
    register_all_modules()
    torch.set_grad_enabled(False)

    cfg = load_config(args.config, args.cfg_options)
    inferencer = GromaInferencer(cfg, args.checkpoint)
    model = inferencer.model
    objects = world_objects(args.world)

    report = dict(probe=probe_table(model, inferencer, objects, args.batch_size), rec={})
    samples = {split: rec_samples(cfg, args.world, split, args.max_rec, args.seed) for split in ('train', 'val')}
    for split in ('train', 'val'):
        report['rec'][split] = rec_scores(inferencer, samples[split], args.batch_size)
    if args.word_bags:
        projector = model.region_encoder.projector
        model.region_encoder.projector = fit_linear(projector_inputs(model, inferencer, objects['train'],
                                                                     args.batch_size),
                                                    word_bags(model, objects['train']))
        for split in ('train', 'val'):
            report['rec'][f'{split}_fitted'] = rec_scores(inferencer, samples[split], args.batch_size)
        model.region_encoder.projector = projector
    boxes = defaultdict(list)
    for split in objects:
        for obj in objects[split]:
            boxes[obj['img_path']].append(obj['box'])
    model.proposer = GroundTruthProposer(model.proposer.backbone, dict(boxes))
    for split in ('train', 'val'):
        report['rec'][f'{split}_oracle'] = rec_scores(inferencer, samples[split], args.batch_size)
    if args.word_bags:
        every = objects['train'] + objects['val']
        every_bag = word_bags(model, every)
        model.encode_regions = bag_regions({tuple(round(v) for v in o['box']): bag
                                            for o, bag in zip(every, every_bag)})
        for split in ('train', 'val'):
            report['rec'][f'{split}_bags'] = rec_scores(inferencer, samples[split], args.batch_size)
        norms = []
        with zeroed_image_tokens(model, norms):
            for split in ('train', 'val'):
                report['rec'][f'{split}_bags_no_image'] = rec_scores(inferencer, samples[split], args.batch_size)
        report['norms'] = dict(image_token=float(np.mean(norms)),
                               word_bag=float(every_bag.norm(dim=-1).mean()))

    print('\nlinear probe on region features, train objects → held-out objects (accuracy %)')
    print(f'{"attribute":<10} {"frozen encoder":>15} {"region token":>13} {"chance":>7}')
    for attribute, row in report['probe'].items():
        print(f'{attribute:<10} {row["encoder"]:>15.1f} {row["region_token"]:>13.1f} {row["chance"]:>7.1f}')
    print('\nREC (greedy answers)')
    print(f'{"expressions / regions":<31} {"Acc@0.5 %":>9} {"target in regions %":>20} {"chance %":>9} {"n":>5}')
    names = dict(train='training / proposer', val='held-out / proposer', train_oracle='training / oracle',
                 val_oracle='held-out / oracle', train_fitted='training / fitted projector',
                 val_fitted='held-out / fitted projector', train_bags='training / word bags',
                 val_bags='held-out / word bags', train_bags_no_image='training / word bags, no image',
                 val_bags_no_image='held-out / word bags, no image')
    for key, row in report['rec'].items():
        print(f'{names[key]:<31} {row["acc"]:>9.1f} {row["target_in_regions"]:>20.1f} {row["chance"]:>9.1f} '
              f'{row["num"]:>5}')
    if 'norms' in report:
        print(f'\nmean norm of an image token {report["norms"]["image_token"]:.2f}, '
              f'of a word bag {report["norms"]["word_bag"]:.2f}')
    if args.out_json:
        with open(args.out_json, 'w') as f:
            json.dump(report, f, indent=1)


if __name__ == '__main__':
    main()
