"""Convert refer-style RefCOCO/+/g annotations (``refs(unc).p`` + ``instances.json``) to MDETR-style json,
one file per split.

The readers read the pickle directly (with an unpickler that refuses any class); this converter exists to
get plain json instead: one file per split that loads fast, can be inspected, and needs no pickle at all.

Usage::

    python tools/dataset_converters/refer_to_mdetr_json.py data/refcoco/refs(unc).p OUT_DIR \\
        [--instances data/refcoco/instances.json] [--name refcoco] [--splits train val testA testB]

Writes ``OUT_DIR/{name}_{split}.json``: COCO json whose ``images`` are one (ref, sentence) each —
``file_name``, ``height``, ``width``, ``id``, ``original_id`` (COCO image id), ``caption`` (the ``sent``),
``sentence_id``, ``ref_id``, ``dataset_name``, ``split`` — and whose ``annotations`` are the referred boxes
(``bbox`` ``[x, y, w, h]``, ``area``, ``iscrowd``, ``category_id``, ``original_id`` = COCO annotation id,
``tokens_positive`` = the whole caption). ``RefCOCODataset`` / ``RefCOCOgRegionCaptionDataset`` read it with
``ann_file=OUT_DIR/{name}_{split}.json``.
"""
import argparse
import json
import os
import os.path as osp
import sys
from collections import defaultdict


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('refs', help='refs(unc).p / refs(umd).p / refs(google).p')
    parser.add_argument('out_dir', help='folder for {name}_{split}.json')
    parser.add_argument('--instances', help='instances.json (default: beside the refs file)')
    parser.add_argument('--name', help='dataset name in file names (default: the refs folder name)')
    parser.add_argument('--splits', nargs='+', help='splits to write (default: all in the file)')
    parser.add_argument('--sentence-key', default='sent', choices=['sent', 'raw'])
    return parser.parse_args(argv)


def convert(refs, instances: dict, name: str, splits=None, sentence_key: str = 'sent'):
    """refs + instances → ``{split: mdetr_json}``; refs of unknown images/annotations are skipped and
    returned as ``(index, reason)`` problems."""
    images = {img['id']: img for img in instances.get('images', [])}
    anns = {ann['id']: ann for ann in instances.get('annotations', [])}
    out = defaultdict(lambda: dict(images=[], annotations=[], categories=instances.get('categories', [])))
    problems = []
    for i, ref in enumerate(refs):
        split = ref.get('split')
        if splits and split not in splits:
            continue
        img, ann = images.get(ref.get('image_id')), anns.get(ref.get('ann_id'))
        if img is None or ann is None:
            problems.append((i, 'unknown image id' if img is None else 'unknown annotation id'))
            continue
        ds = out[split]
        for sent in ref.get('sentences') or []:
            caption = ' '.join(str(sent.get(sentence_key) or '').split())
            if not caption:
                problems.append((i, f'empty sentence {sent.get("sent_id")}'))
                continue
            image_id = len(ds['images'])
            ds['images'].append(
                dict(file_name=img['file_name'], height=img.get('height'), width=img.get('width'), id=image_id,
                     original_id=img['id'], caption=caption, sentence_id=sent.get('sent_id'),
                     ref_id=ref.get('ref_id'), dataset_name=name, split=split))
            ds['annotations'].append(
                dict(id=len(ds['annotations']), image_id=image_id, bbox=ann['bbox'], area=ann.get('area'),
                     iscrowd=ann.get('iscrowd', 0), category_id=ref.get('category_id', ann.get('category_id')),
                     original_id=ann['id'], tokens_positive=[[0, len(caption)]]))
    return dict(out), problems


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    from groma_mm.datasets.readers.refcoco import load_plain_pickle

    with open(args.refs, 'rb') as f:
        refs = load_plain_pickle(f.read())
    instances_file = args.instances or osp.join(osp.dirname(args.refs), 'instances.json')
    with open(instances_file) as f:
        instances = json.load(f)
    name = args.name or osp.basename(osp.dirname(osp.abspath(args.refs)))
    per_split, problems = convert(refs, instances, name, args.splits, args.sentence_key)
    os.makedirs(args.out_dir, exist_ok=True)
    for split, ds in sorted(per_split.items()):
        path = osp.join(args.out_dir, f'{name}_{split}.json')
        with open(path, 'w') as f:
            json.dump(ds, f)
        print(f'{path}: {len(ds["images"])} expressions')
    for i, reason in problems[:20]:
        print(f'skipped ref at index {i}: {reason}', file=sys.stderr)
    if problems:
        print(f'{len(problems)} refs/sentences skipped', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
