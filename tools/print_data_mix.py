"""Print a config's training data mixture without loading an image: every source with its ratio, its size,
the samples it gives per epoch, and the epoch's samples and iterations.

    python tools/print_data_mix.py CONFIG [--world-size N] [--cfg-options ...] [--json OUT.json]

A source's size is counted from its annotation file when the file is there (images are neither opened nor
listed), else taken from the config's ``train_source_sizes`` (the public sizes the paper configs record)
and marked ``public``; ``?`` when neither is known. Samples per epoch are ``round(ratio × size)``, as
``LengthGroupedMixSampler`` draws them; iterations per epoch are ``ceil(samples / (world size × batch))``.
The world size defaults to the N of the config name's ``NxbB`` (8 for ``8xb16``), else 1.
"""
import argparse
import json
import math
import os.path as osp
import re
import sys

from mmengine.config import Config, DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--world-size', type=int, help='number of GPUs (default: from the config name)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    parser.add_argument('--json', help='also write the table as json here')
    return parser.parse_args(argv)


def world_size_from_name(path: str) -> int:
    match = re.search(r'(\d+)xb\d+', osp.basename(path))
    return int(match.group(1)) if match else 1


def _sources(dataloader: dict) -> list:
    dataset = dataloader['dataset']
    if dataset.get('type') == 'ConcatDataset':
        return list(dataset['datasets'])
    return [dataset]


def _ann_path(source: dict) -> str:
    ann_file = source.get('ann_file', '')
    root = source.get('data_root') or ''
    return ann_file if osp.isabs(ann_file) or not root else osp.join(root, ann_file)


def count_samples(source: dict) -> int:
    """Samples the source's reader yields from its annotations, images unchecked."""
    from groma_mm.datasets.readers import GromaBaseDataset
    from groma_mm.registry import DATASETS
    cfg = dict(source, pipeline=[])
    if issubclass(DATASETS.get(cfg['type']), GromaBaseDataset):
        cfg['check_files'] = False  # listing millions of image files is what a dry run avoids
    return len(DATASETS.build(cfg))


def source_rows(cfg: Config) -> list:
    dataloader = cfg.train_dataloader
    sources = _sources(dataloader)
    ratios = list(dataloader.get('sampler', {}).get('ratios') or [1.0] * len(sources))
    names = list(cfg.get('train_source_names') or [])
    public = list(cfg.get('train_source_sizes') or [])
    if len(ratios) != len(sources):
        raise SystemExit(f'{len(ratios)} sampler ratios for {len(sources)} sources')
    rows = []
    for i, (source, ratio) in enumerate(zip(sources, ratios)):
        name = names[i] if i < len(names) else f"{source.get('type')} {osp.basename(source.get('ann_file', ''))}"
        row = dict(name=name, type=source.get('type'), ann_file=_ann_path(source), ratio=float(ratio), size=None,
                   origin='?')
        if osp.exists(row['ann_file']):
            try:
                row['size'], row['origin'] = count_samples(source), 'counted'
            except Exception as err:  # noqa: BLE001 — one unreadable source must not hide the others
                row['origin'] = f'unreadable: {err}'.splitlines()[0][:120]
        if row['size'] is None and i < len(public) and public[i] is not None:
            row['size'], row['origin'] = int(public[i]), 'public'
        row['per_epoch'] = None if row['size'] is None else int(round(ratio * row['size']))
        rows.append(row)
    return rows


def main(argv=None):
    args = parse_args(argv)
    from groma_mm.utils import load_config, register_all_modules
    register_all_modules()
    cfg = load_config(args.config, args.cfg_options)
    rows = source_rows(cfg)
    world_size = args.world_size or world_size_from_name(args.config)
    batch = int(cfg.train_dataloader.batch_size)
    known = [r['per_epoch'] for r in rows if r['per_epoch'] is not None]
    total = sum(known)
    iters = math.ceil(total / (world_size * batch)) if total else 0
    epochs = cfg.get('train_cfg', {}).get('max_epochs')

    width = max(len(r['name']) for r in rows)
    print(f'{"source":<{width}}  {"ratio":>5}  {"size":>11}  {"per epoch":>11}  size from')
    for r in rows:
        size = '?' if r['size'] is None else f'{r["size"]:,}'
        per_epoch = '?' if r['per_epoch'] is None else f'{r["per_epoch"]:,}'
        print(f'{r["name"]:<{width}}  {r["ratio"]:>5.2f}  {size:>11}  {per_epoch:>11}  {r["origin"]}')
    unknown = len(rows) - len(known)
    print(f'samples per epoch: {total:,}' + (f' (+ {unknown} sources of unknown size)' if unknown else ''))
    print(f'iterations per epoch: {iters:,} at {world_size} GPU(s) × batch {batch} = {world_size * batch} per step')
    if epochs:
        print(f'epochs: {epochs}, iterations in all: {iters * epochs:,}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(sources=rows, samples_per_epoch=total, iterations_per_epoch=iters, world_size=world_size,
                           batch_size=batch, epochs=epochs), f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
