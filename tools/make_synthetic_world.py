"""Generate the synthetic grounding world: shapes with colour, size, position and occlusion, annotated in the
public formats of COCO, RefCOCO, Visual Genome, Flickr30k Entities, ShareGPT-4V, LLaVA-Instruct and
Groma-Instruct, with train/val splits. Deterministic given the seed.

    python tools/make_synthetic_world.py OUT [--train 64] [--val 16] [--seed 0] [--img-size 112]

The layout is printed at the end and written to OUT/README.md and OUT/world.json. Check the result with
``python tools/validate_dataset.py OUT/annotations/instances_train.json`` (or any other file of it).
"""
import argparse
import os.path as osp
import sys
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('out', help='output folder (created)')
    parser.add_argument('--train', type=int, default=64, help='training images')
    parser.add_argument('--val', type=int, default=16, help='validation (held-out) images')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--img-size', type=int, default=112, help='image side in pixels')
    parser.add_argument('--min-objects', type=int, default=2)
    parser.add_argument('--max-objects', type=int, default=5)
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def summary(paths: dict, world: dict, seconds: float) -> str:
    cols = ('images', 'objects', 'occluded', 'refs', 'sentences', 'regions', 'grounded_sentences', 'chats')
    rows = [('split', ) + cols] + [(split, ) + tuple(str(s[c]) for c in cols) for split, s in world['splits'].items()]
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = ['  '.join(v.rjust(w) if k else v.ljust(w) for k, (v, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, '  '.join('-' * w for w in widths))
    root = paths['root']

    def flat(d, prefix=''):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from flat(v, f'{prefix}{k}.')
            else:
                yield f'{prefix}{k}', osp.relpath(v, root)

    files = [f'  {k:<28} {v}' for k, v in flat({k: v for k, v in paths.items() if k != 'root'})]
    return (f'synthetic world in {root} (seed {world["seed"]}, {world["img_size"]}x{world["img_size"]} px, '
            f'{seconds:.1f} s)\n' + '\n'.join(lines) + '\n' + '\n'.join(files))


def main(argv=None) -> int:
    args = parse_args(argv)
    import json

    from groma_mm.datasets.synthetic_world import generate_world
    start = time.time()
    try:
        paths = generate_world(args.out, args.train, args.val, seed=args.seed, img_size=args.img_size,
                               min_objects=args.min_objects, max_objects=args.max_objects,
                               progress=not args.no_progress)
    except ValueError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    with open(paths['world']) as f:
        world = json.load(f)
    print(summary(paths, world, time.time() - start))
    return 0


if __name__ == '__main__':
    sys.exit(main())
