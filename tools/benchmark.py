"""Measure Groma's speed and memory stage by stage: front end per image, prefill, decode per token, samples/s.

    python tools/benchmark.py CONFIG [CHECKPOINT] [--batch-sizes 1 8 16] [--new-tokens 32] [--random-weights]
        [--generators static hf] [--device cpu|cuda] [--repeats 3] [--json OUT] [--cfg-options k=v ...]

Each batch holds distinct synthetic images (no front-end sharing) and one REC-style question per image.
Stages are run the way ``Groma.predict`` runs them: encoder, proposer (raw proposals + region selection),
image tokenizer, region encoder, prompt building + embedding, then each generator: its first call (a cold
one-token generation: cache set-up, graph capture), prefill (a one-token generation) and decode
(``(t(N) - t(1)) / (N - 1)`` per token, stop tokens off so every row runs N tokens).
Times are medians over ``--repeats`` runs after ``--warmup`` runs, as wall time and as process CPU time
(``cpu_time``: on a shared machine the wall time includes waiting for a core); samples/s is the batch
over the sum of the stages and an N-token generation.

Memory: on CUDA the peak of ``torch.cuda.max_memory_allocated`` within each stage; on CPU the peak
resident set size of the process sampled every millisecond within each stage (``cpu_rss_peak``). Both are
absolute (weights included); ``*_delta`` is the rise over the stage's start.

``--random-weights`` needs no checkpoint: the LLM is built from the config's ``llm_random_init_config``
(the architecture of its pretrained LLM) merged with any ``model.llm.config`` override, a missing tokenizer
becomes the offline ``TinyWordTokenizer``, pretrained initializations are dropped, and the region score
threshold is 0 (a random proposer scores below any threshold; a trained one fills most region slots). For
the 7B shape on a small machine, shrink what you must, e.g. ``--cfg-options model.llm.config.num_hidden_layers=2``.
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import threading
import time
from typing import Callable, Dict, List

import torch
from mmengine.config import Config, ConfigDict, DictAction

STAGES = ('encoder', 'proposer', 'image_tokenizer', 'region_encoder', 'prompt')
QUESTION = 'Locate <p>the small object next to the red one</p> in the image.'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', help='weights (none with --random-weights)')
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 8, 16])
    parser.add_argument('--new-tokens', type=int, default=32, help='tokens generated per sample (>= 2)')
    parser.add_argument('--random-weights', action='store_true', help='random weights, no checkpoint needed')
    parser.add_argument('--generators', nargs='+', default=['static', 'hf'],
                        help="generators to compare ('static', 'hf'); the first is the headline")
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', help='write the results to this JSON file')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='unpickle the checkpoint in full (runs any code it holds): trusted files only')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    args = parser.parse_args(argv)
    if (args.checkpoint is None) != args.random_weights:
        parser.error('give a CHECKPOINT or --random-weights (exactly one)')
    if args.new_tokens < 2:
        parser.error('--new-tokens must be at least 2 (decode is timed from the second token on)')
    if min(args.batch_sizes) < 1 or args.repeats < 1 or args.warmup < 0:
        parser.error('batch sizes and --repeats must be >= 1, --warmup >= 0')
    return args


# ------------------------------------------------------------------------------------------------ config
def _drop_pretrained_init(node) -> None:
    """Remove every ``init_cfg=dict(type='Pretrained', …)`` below ``node`` (its files need not exist)."""
    if isinstance(node, dict):
        init = node.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            node['init_cfg'] = None
        for value in node.values():
            _drop_pretrained_init(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _drop_pretrained_init(value)


def random_weights_config(cfg: Config) -> None:
    """Make ``cfg.model`` buildable without any weight file (module docstring)."""
    model = cfg.model
    llm = model.llm
    if llm.get('pretrained') is not None:
        shape = cfg.get('llm_random_init_config')
        if shape is None and not llm.get('config'):
            raise SystemExit(f'error: {cfg.filename} loads its LLM from {llm.pretrained} and has no '
                             'llm_random_init_config; give the architecture with --cfg-options '
                             'model.llm.config.model_type=llama model.llm.config.hidden_size=…')
        llm.config = ConfigDict(dict(shape or {}, **(llm.get('config') or {})))
        for key in ('pretrained', 'gguf_file'):
            llm.pop(key, None)
    tokenizer = model.tokenizer
    if tokenizer.get('type') == 'HFTokenizer' and not osp.exists(tokenizer.get('pretrained', '')):
        model.tokenizer = ConfigDict(type='TinyWordTokenizer')
    model.proposer_checkpoint = None
    # A random proposer scores nothing above the threshold; a trained one mostly fills all its region slots.
    model.post_processor = ConfigDict(dict(model.get('post_processor', dict(type='RegionPostProcessor')),
                                           score_thr=0.0))
    _drop_pretrained_init(model)


def build_model(args):
    from groma_mm.engine.checkpoint_loading import load_weights, maybe_trusted
    from groma_mm.registry import MODELS
    from groma_mm.utils import load_config, register_all_modules
    register_all_modules()
    cfg = load_config(args.config, args.cfg_options)
    if args.random_weights:
        random_weights_config(cfg)
    torch.manual_seed(args.seed)
    with maybe_trusted(args.trust_checkpoint):
        model = MODELS.build(cfg.model)
        if args.checkpoint is None:
            model.init_weights()
        else:
            load_weights(model, args.checkpoint, strict=True)
    return cfg, model.to(args.device).eval()


# ------------------------------------------------------------------------------------------------ measuring
class PeakMemory:
    """Peak memory within a ``with`` block: CUDA allocator peak, or sampled CPU resident set size."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == 'cuda'
        self.device = device
        self.kind = 'cuda_max_memory_allocated' if self.cuda else 'cpu_rss_peak'
        self.page = os.sysconf('SC_PAGE_SIZE') if hasattr(os, 'sysconf') else 4096

    def _rss(self) -> int:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * self.page

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
        else:
            self.start = self.peak_bytes = self._rss()
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.001):
            self.peak_bytes = max(self.peak_bytes, self._rss())

    def __exit__(self, *exc) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            self._thread.join()
            self.peak_bytes = max(self.peak_bytes, self._rss())

    @property
    def mib(self) -> Dict[str, float]:
        return dict(peak_mib=round(self.peak_bytes / 2**20, 1),
                    peak_delta_mib=round(max(self.peak_bytes - self.start, 0) / 2**20, 1))


class Timer:
    """Median wall and process-CPU time of a function (CUDA synchronized around each run); memory from one
    extra run. On a shared CPU the wall time includes waiting for a core; the CPU time does not."""

    def __init__(self, device: torch.device, repeats: int, warmup: int) -> None:
        self.device, self.repeats, self.warmup = device, repeats, warmup

    def _sync(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)

    def __call__(self, fn: Callable):
        """Returns (median wall seconds, median CPU seconds, the function's last result, memory dict)."""
        for _ in range(self.warmup):
            fn()
        wall, cpu = [], []
        for _ in range(self.repeats):
            self._sync()
            start, start_cpu = time.perf_counter(), time.process_time()
            result = fn()
            self._sync()
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        with PeakMemory(self.device) as memory:
            fn()
        return statistics.median(wall), statistics.median(cpu), result, memory.mib


def synthetic_batch(model, batch_size: int, image_size, seed: int):
    """``batch_size`` distinct random images with one REC question each, through the model's preprocessor."""
    from mmdet.structures import DetDataSample
    gen = torch.Generator().manual_seed(seed)
    height, width = image_size
    inputs, samples = [], []
    for index in range(batch_size):
        inputs.append(torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=gen))
        samples.append(DetDataSample(metainfo=dict(
            img_shape=(height, width), ori_shape=(height, width), scale_factor=(1.0, 1.0),
            img_path=f'synthetic_{index}.png', sample_idx=index, conversation=[dict(role='user', content=QUESTION)])))
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), False)
    return data['inputs'], data['data_samples']


def benchmark_batch(model, generators: Dict[str, object], batch_size: int, args, image_size) -> List[dict]:
    """One row per generator for this batch size."""
    device = torch.device(args.device)
    timer = Timer(device, args.repeats, args.warmup)
    inputs, samples = synthetic_batch(model, batch_size, image_size, args.seed)
    stages, cpu, memory = {}, {}, {}

    def stage(name: str, fn: Callable):
        stages[name], cpu[name], result, memory[name] = timer(fn)
        return result

    with torch.no_grad():
        feats, image_of = stage('encoder', lambda: model.encode_images(inputs, samples))
        regions, maps = stage('proposer', lambda: model.propose_regions(feats, image_of, samples, training=False))
        image_tokens = stage('image_tokenizer', lambda: model.image_tokenizer(feats[model.image_layer])[image_of])
        region_tokens = stage('region_encoder',
                              lambda: model.encode_regions(feats, image_of, regions, inputs))
        batches = stage('prompt',
                        lambda: model.generation_batches(samples, image_tokens, region_tokens, regions, maps))
    if len(batches) != 1:
        raise RuntimeError(f'expected one generation batch, got {len(batches)} (errors: '
                           f'{[s.get("error") for s in samples if s.get("error")]})')
    batch = batches[0]
    front_end, front_end_cpu = sum(stages.values()), sum(cpu.values())
    rows = []
    for name, generator in generators.items():

        def generate(tokens: int, gen=generator) -> torch.Tensor:
            options = dict(batch.options, max_new_tokens=tokens)
            with torch.no_grad():
                return gen(model.llm, batch.inputs_embeds, batch.attention_mask, stop_token_ids=[],
                           pad_token_id=model.prompt_builder.pad_token_id, **options)

        # The first call sets the generator up (static cache, graph capture): a one-time cost a demo pays once,
        # kept out of the prefill time that the decode time is taken from.
        first_call = Timer(device, 1, 0)(lambda: generate(1))[0]
        prefill, prefill_cpu, _, prefill_memory = timer(lambda: generate(1))
        full, full_cpu, out, decode_memory = timer(lambda: generate(args.new_tokens))
        decode = max(full - prefill, 0.0) / (args.new_tokens - 1)
        decode_cpu = max(full_cpu - prefill_cpu, 0.0) / (args.new_tokens - 1)
        rows.append(dict(
            batch_size=batch_size, generator=name, prompt_tokens=int(batch.attention_mask.shape[1]),
            regions_per_image=round(sum(len(r) for r in regions) / batch_size, 1), new_tokens=int(out.shape[1]),
            ms_per_image={k: round(v * 1e3 / batch_size, 3) for k, v in stages.items()},
            front_end_ms_per_image=round(front_end * 1e3 / batch_size, 3),
            first_call_ms=round(first_call * 1e3, 3), prefill_ms=round(prefill * 1e3, 3),
            decode_ms_per_token=round(decode * 1e3, 3), samples_per_s=round(batch_size / (front_end + full), 3),
            cpu_time=dict(ms_per_image={k: round(v * 1e3 / batch_size, 3) for k, v in cpu.items()},
                          prefill_ms=round(prefill_cpu * 1e3, 3), decode_ms_per_token=round(decode_cpu * 1e3, 3),
                          samples_per_s=round(batch_size / max(front_end_cpu + full_cpu, 1e-9), 3)),
            memory=dict(memory, prefill=prefill_memory, generate=decode_memory)))
    return rows


# ------------------------------------------------------------------------------------------------ report
def summary(rows: List[dict], names: List[str]) -> List[str]:
    """Headline ratios: decode speed-up of the first generator over the others, throughput over batch 1."""
    lines = []
    by = {(r['batch_size'], r['generator']): r for r in rows}
    sizes = sorted({r['batch_size'] for r in rows})
    head = names[0]
    for other in names[1:]:
        for size in sizes:
            a, b = by[(size, head)], by[(size, other)]
            wall, cpu = a['decode_ms_per_token'], a['cpu_time']['decode_ms_per_token']
            if wall > 0 and cpu > 0:
                lines.append(f'decode {head} vs {other} at batch {size}: '
                             f'{b["decode_ms_per_token"] / wall:.2f}x faster (wall), '
                             f'{b["cpu_time"]["decode_ms_per_token"] / cpu:.2f}x (CPU time)')
            else:
                lines.append(f'decode {head} vs {other} at batch {size}: not measured ({head} decode time within '
                             f'the prefill noise; raise --new-tokens or --repeats)')
    if 1 in sizes:
        for name in names:
            base, base_cpu = by[(1, name)]['samples_per_s'], by[(1, name)]['cpu_time']['samples_per_s']
            for size in sizes[1:]:
                row = by[(size, name)]
                lines.append(f'{name} throughput batch {size} / batch 1: {row["samples_per_s"] / base:.2f}x (wall), '
                             f'{row["cpu_time"]["samples_per_s"] / base_cpu:.2f}x (CPU time)')
    return lines


def table(rows: List[dict], memory_kind: str) -> str:
    header = ['batch', 'gen', 'prompt', 'regions'] + [f'{s} ms/img' for s in STAGES] + [
        'first call ms', 'prefill ms', 'decode ms/tok', 'decode cpu-ms/tok', 'samples/s',
        f'peak MiB enc/prop/tok/reg/prefill/gen ({memory_kind})']
    lines = [header]
    for r in rows:
        mem = r['memory']
        peaks = '/'.join(f'{mem[k]["peak_mib"]:.0f}' for k in
                         ('encoder', 'proposer', 'image_tokenizer', 'region_encoder', 'prefill', 'generate'))
        lines.append([str(r['batch_size']), r['generator'], str(r['prompt_tokens']), str(r['regions_per_image'])] +
                     [f'{r["ms_per_image"][s]:.2f}' for s in STAGES] +
                     [f'{r["first_call_ms"]:.2f}', f'{r["prefill_ms"]:.2f}', f'{r["decode_ms_per_token"]:.3f}',
                      f'{r["cpu_time"]["decode_ms_per_token"]:.3f}', f'{r["samples_per_s"]:.2f}', peaks])
    widths = [max(len(line[k]) for line in lines) for k in range(len(header))]
    return '\n'.join('  '.join(v.rjust(w) for v, w in zip(line, widths)) for line in lines)


def environment(args, cfg, model) -> dict:
    device = torch.device(args.device)
    llm = model.llm.config
    return dict(
        config=args.config, checkpoint=args.checkpoint, random_weights=args.random_weights,
        cfg_options=args.cfg_options, device=str(device),
        device_name=torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor() or 'cpu',
        cpu_threads=torch.get_num_threads(), torch=torch.__version__, python=platform.python_version(),
        llm=dict(model_type=llm.model_type, hidden_size=llm.hidden_size, layers=llm.num_hidden_layers,
                 vocab=llm.vocab_size, dtype=str(next(model.llm.parameters()).dtype)),
        image_size=list(cfg.get('image_size', (448, 448))), new_tokens=args.new_tokens, repeats=args.repeats,
        warmup=args.warmup, memory_kind=PeakMemory(device).kind,
        time=time.strftime('%Y-%m-%d %H:%M:%S'))


def main(argv=None) -> dict:
    args = parse_args(argv)
    from groma_mm.models.mllm.generation import build_generator
    cfg, model = build_model(args)
    generators = {name: build_generator(name) for name in args.generators}
    image_size = tuple(cfg.get('image_size', (448, 448)))
    rows = []
    for size in args.batch_sizes:
        rows += benchmark_batch(model, generators, size, args, image_size)
    env = environment(args, cfg, model)
    report = dict(environment=env, results=rows, summary=summary(rows, list(generators)))
    print(table(rows, env['memory_kind']))
    print('\n'.join(report['summary']))
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=1)
        print(f'wrote {args.json}')
    return report


if __name__ == '__main__':
    main()
