"""The Groma web demo: upload or pick an image, draw or type boxes, ask, and see grounded answers.

    python tools/demo.py CONFIG CKPT [--device cuda] [--port 7860] [--host 127.0.0.1] [--examples IMG ...]
        [--max-batch-size 4] [--share-dir DIR] [--cfg-options ...]

Open http://HOST:PORT in a browser. Two clicks on the image draw a box (opposite corners); boxes can also
be typed as "x1 y1 x2 y2; …" and are named <box0>, <box1>, … in questions. Modes: free chat (multi-turn),
grounded caption, find (REC), describe region, proposals. Everything the page needs is served by this
process; nothing is fetched from the network. Requests of concurrent users are queued and answered in
batches of up to --max-batch-size.
"""
import argparse
import glob
import logging
import os
import os.path as osp

from mmengine.config import DictAction


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--host', default='127.0.0.1', help='address to listen on (0.0.0.0: all interfaces)')
    parser.add_argument('--port', type=int, default=7860)
    parser.add_argument('--examples', nargs='*', help='example images (default: a few of data/synthetic_world)')
    parser.add_argument('--max-batch-size', type=int, default=4, help='queued requests answered together')
    parser.add_argument('--share-dir', help="where gradio keeps uploaded files (default: gradio's temp dir)")
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='allow a checkpoint that needs arbitrary Python objects (only files you trust)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    return parser.parse_args()


def default_examples(limit: int = 4):
    return sorted(glob.glob(osp.join('data', 'synthetic_world', 'images', '*.*')))[:limit]


def main():
    args = parse_args()
    logging.basicConfig(format='[demo] %(asctime)s %(message)s', level=logging.WARNING)
    logging.getLogger('groma_mm.apis.demo_app').setLevel(logging.INFO)
    if args.share_dir:
        os.makedirs(args.share_dir, exist_ok=True)
        os.environ['GRADIO_TEMP_DIR'] = osp.abspath(args.share_dir)
    import uvicorn

    from groma_mm.apis import GromaInferencer
    from groma_mm.apis.demo_app import GromaDemo, offline_app
    from groma_mm.utils import load_config
    cfg = load_config(args.config, args.cfg_options)
    inferencer = GromaInferencer(cfg, args.checkpoint, device=args.device, **_trust(args))
    demo = GromaDemo(inferencer, args.examples if args.examples is not None else default_examples(),
                     max_batch_size=args.max_batch_size)
    app = offline_app(demo.build(), allowed_paths=[osp.abspath(p) for p in demo.examples], show_api=False)
    print(f'[demo] serving on http://{args.host}:{args.port}', flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level='warning')


def _trust(args) -> dict:
    return dict(trust_checkpoint=True) if args.trust_checkpoint else {}


if __name__ == '__main__':
    main()
