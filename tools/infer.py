"""Ask a trained Groma about images from the command line.

    python tools/infer.py CONFIG CHECKPOINT --image IMG [IMG ...] --prompt "..." [--box x1 y1 x2 y2 ...]
        [--grounding] [--proposals] [--out-dir DIR] [--json] [--max-new-tokens N] [--temperature T --top-p P]

Refer to your boxes in the prompt as <box0>, <box1>, … in the order of the --box flags, e.g.
    --prompt "What is <box0> doing?" --box 10 20 200 240
Prints the answer and one line per grounded phrase with its boxes (original pixels), and saves each image
with labelled boxes under --out-dir. --proposals draws the proposer's regions instead of answering.
"""
import argparse
import json
import os
import os.path as osp
import sys

from mmengine.config import DictAction


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--image', nargs='+', required=True, help='image file(s)')
    parser.add_argument('--prompt', nargs='+', help='one prompt for all images, or one per image')
    parser.add_argument('--box', nargs=4, type=float, action='append', metavar=('X1', 'Y1', 'X2', 'Y2'),
                        help='a user box in image pixels, named <box0>, <box1>, … in order (single image)')
    parser.add_argument('--grounding', action='store_true', help='ask for a grounded answer')
    parser.add_argument('--proposals', action='store_true', help="only draw the proposer's regions")
    parser.add_argument('--out-dir', default='outputs', help='where drawings (and JSON) go')
    parser.add_argument('--json', action='store_true', help='print JSON and write <image>.json')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--max-new-tokens', type=int)
    parser.add_argument('--temperature', type=float, help='sampling temperature (sampling is off by default)')
    parser.add_argument('--top-p', type=float, help='nucleus sampling threshold (turns sampling on)')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='unpickle the checkpoints in full, which can run code they contain: only for files '
                        'from a source you trust (by default anything beyond weights is refused)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. model.proposer_checkpoint=PATH')
    args = parser.parse_args()
    if not args.proposals and not args.prompt:
        parser.error('--prompt is required unless --proposals is given')
    if args.prompt and len(args.prompt) not in (1, len(args.image)):
        parser.error(f'give one --prompt or one per image ({len(args.image)}), not {len(args.prompt)}')
    if args.box and len(args.image) > 1:
        parser.error('--box refers to one image; pass a single --image with it')
    return args


def generation_options(args) -> dict:
    options = {}
    if args.max_new_tokens is not None:
        options['max_new_tokens'] = args.max_new_tokens
    if args.temperature is not None or args.top_p is not None:
        options['do_sample'] = True
        if args.temperature is not None:
            options['temperature'] = args.temperature
        if args.top_p is not None:
            options['top_p'] = args.top_p
    return options


def main():
    args = parse_args()
    from groma_mm.apis import GromaInferencer, draw_grounded_result
    from groma_mm.apis.inputs import InputError, load_image
    from groma_mm.engine.checkpoint_loading import CheckpointMismatchError, UnsafeCheckpointError
    from groma_mm.utils import load_config
    cfg = load_config(args.config, args.cfg_options)
    try:
        inferencer = GromaInferencer(cfg, args.checkpoint, device=args.device, trust_checkpoint=args.trust_checkpoint)
    except (CheckpointMismatchError, UnsafeCheckpointError, FileNotFoundError) as err:
        sys.exit(f'error: {err}')
    os.makedirs(args.out_dir, exist_ok=True)
    failed = 0
    if args.proposals:
        outputs = [(None, p) for p in _safe_proposals(inferencer, args.image)]
    else:
        prompts = args.prompt * len(args.image) if len(args.prompt) == 1 else args.prompt
        results = inferencer.ask(args.image, prompts, boxes=[args.box] if args.box else None,
                                 grounding=args.grounding, batch_size=args.batch_size, **generation_options(args))
        outputs = [(r, None) for r in results]

    for image, (result, proposals) in zip(args.image, outputs):
        stem = osp.splitext(osp.basename(image))[0]
        error = result.error if result is not None else (proposals.get('error') if proposals else None)
        if error:
            failed += 1
            print(f'{image}: ERROR {error}', file=sys.stderr)
            continue
        drawing = osp.join(args.out_dir, f'{stem}_groma.jpg')
        try:
            draw_grounded_result(load_image(image, image), result=result, proposals=proposals, out_file=drawing,
                                 user_boxes=args.box if result is not None else None)
        except InputError as err:
            failed += 1
            print(f'{image}: ERROR {err}', file=sys.stderr)
            continue
        record = result.to_dict() if result is not None else {
            'proposals': {k: v.round(2).tolist() for k, v in proposals.items()}}
        record.update(image=image, drawing=drawing)
        if args.json:
            with open(osp.join(args.out_dir, f'{stem}.json'), 'w') as f:
                json.dump(record, f, indent=2)
            print(json.dumps(record))
        elif result is not None:
            print(f'{image}: {result.text}')
            for span in result.spans:
                boxes = ' '.join('[' + ', '.join(f'{v:.1f}' for v in b) + ']' for b in span['boxes'])
                print(f'  {span["phrase"] or "<region>"}: {boxes}')
            print(f'  drawing: {drawing}')
        else:
            print(f'{image}: {len(proposals["bboxes"])} regions, drawing: {drawing}')
    sys.exit(1 if failed else 0)


def _safe_proposals(inferencer, images):
    from groma_mm.apis.inputs import InputError
    out = []
    for image in images:
        try:
            out.append(inferencer.propose(image))
        except InputError as err:
            out.append(dict(error=str(err)))
    return out


if __name__ == '__main__':
    main()
