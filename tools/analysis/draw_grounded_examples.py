"""Draw a trained Groma's grounded answers on held-out synthetic-world images, one row per image:

    REC (the expression's predicted box, ground truth dashed) | grounded caption | referring answer

    python tools/analysis/draw_grounded_examples.py CONFIG CHECKPOINT --out examples.png
        [--world data/synthetic_world] [--num 4] [--scale 2] [--cfg-options ...]

Images are the first ``--num`` held-out images that have a referring expression; the referred region is
that expression's object. Prints one JSON line per image with the three answers.
"""
import argparse
import json
import os
import os.path as osp
import textwrap

import cv2
import numpy as np
from mmengine.config import DictAction

# BGR colours of the phrases' boxes (the prediction of a panel is always the first).
PALETTE = [(60, 200, 60), (255, 140, 30), (40, 220, 240), (230, 90, 230), (80, 80, 255), (255, 255, 255)]
TEXT_LINES = 4
LINE_PX = 15


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True, help='the picture (.png)')
    parser.add_argument('--world', default='data/synthetic_world')
    parser.add_argument('--num', type=int, default=4, help='held-out images (rows)')
    parser.add_argument('--scale', type=int, default=2, help='upscaling of the (small) images')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. model.proposer_checkpoint=PATH')
    return parser.parse_args()


def held_out_examples(world: str, num: int) -> list:
    """``[(image path, expression, its object's xyxy box)]`` for the first ``num`` held-out images."""
    from groma_mm.datasets.readers import RefCOCODataset
    ds = RefCOCODataset(ann_file=osp.join(world, 'refcoco', 'refs(unc).p'),
                        data_prefix=dict(img=osp.join(world, 'images')), split='val', test_mode=True)
    out, seen = [], set()
    for i in range(len(ds)):
        s = ds.get_data_info(i)
        if s['img_path'] in seen:
            continue
        seen.add(s['img_path'])
        out.append((s['img_path'], s['gt']['expression'], s['gt']['gt_bboxes'][0].tolist()))
        if len(out) == num:
            break
    return out


def _box(img, box, colour, scale, dashed=False, thickness=2):
    x1, y1, x2, y2 = (int(round(v * scale)) for v in box)
    if not dashed:
        cv2.rectangle(img, (x1, y1), (x2, y2), colour, thickness)
        return
    for (a, b) in (((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)), ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1))):
        n = max(2, int(np.hypot(b[0] - a[0], b[1] - a[1]) // 6))
        for k in range(0, n, 2):
            p = (int(a[0] + (b[0] - a[0]) * k / n), int(a[1] + (b[1] - a[1]) * k / n))
            q = (int(a[0] + (b[0] - a[0]) * (k + 1) / n), int(a[1] + (b[1] - a[1]) * (k + 1) / n))
            cv2.line(img, p, q, colour, 1)


def panel(image, title: str, text: str, boxes, scale: int) -> np.ndarray:
    """The image upscaled with ``boxes`` ``[(xyxy, colour, dashed)]`` over a title and wrapped text."""
    img = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    for box, colour, dashed in boxes:
        _box(img, box, colour, scale, dashed)
    width = img.shape[1]
    strip = np.full((LINE_PX * (TEXT_LINES + 1) + 6, width, 3), 255, np.uint8)
    cv2.putText(strip, title, (4, LINE_PX), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    lines = textwrap.wrap(text, width=max(10, width // 7))[:TEXT_LINES] or ['(no answer)']
    for k, line in enumerate(lines):
        cv2.putText(strip, line, (4, LINE_PX * (k + 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (60, 60, 60), 1, cv2.LINE_AA)
    return np.concatenate([img, strip], axis=0)


def iou(a, b) -> float:
    lt, rb = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = float(np.prod(np.clip(rb - lt, 0, None)))
    union = float(np.prod(np.subtract(a[2:], a[:2])) + np.prod(np.subtract(b[2:], b[:2])) - inter)
    return inter / union if union > 0 else 0.0


def draw_examples(inferencer, examples: list, scale: int = 2):
    """The picture (H, W, 3) BGR and one record per example."""
    paths = [p for p, _, _ in examples]
    rec = inferencer.ground(paths, [e for _, e, _ in examples])
    captions = inferencer.grounded_caption(paths)
    referring = inferencer.describe_region(paths, [b for _, _, b in examples])
    rows, records = [], []
    for (path, expression, box), r, c, f in zip(examples, rec, captions, referring):
        image = cv2.imread(path)
        pred = r.boxes[0].tolist() if len(r.boxes) else None
        score = f'IoU {iou(np.asarray(pred), np.asarray(box)):.2f}' if pred else 'no box'
        rec_boxes = [(box, (255, 255, 255), True)] + ([(pred, PALETTE[0], False)] if pred else [])
        caption_boxes = [(b, PALETTE[k % len(PALETTE)], False) for k, span in enumerate(c.spans) for b in span['boxes']]
        row = [panel(image, 'REC', f'"{expression}" -> {score}', rec_boxes, scale),
               panel(image, 'grounded caption', c.text, caption_boxes, scale),
               panel(image, 'referring: what is the box?', f.text, [(box, (40, 220, 240), False)], scale)]
        gap = np.full((row[0].shape[0], 4, 3), 255, np.uint8)
        rows.append(np.concatenate([part for p in row for part in (p, gap)], 1))
        records.append(dict(image=path, expression=expression, rec_box=pred, rec_iou=score, caption=c.raw,
                            referring=f.text))
    picture = np.concatenate([np.concatenate([r, np.full((4, r.shape[1], 3), 255, np.uint8)], 0) for r in rows], 0)
    return picture, records


def main():
    args = parse_args()
    from groma_mm.apis import GromaInferencer
    from groma_mm.utils import load_config
    cfg = load_config(args.config, args.cfg_options)
    inferencer = GromaInferencer(cfg, args.checkpoint)
    picture, records = draw_examples(inferencer, held_out_examples(args.world, args.num), args.scale)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    cv2.imwrite(args.out, picture, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    for record in records:
        print(json.dumps(record))
    print(f'picture: {args.out}')


if __name__ == '__main__':
    main()
