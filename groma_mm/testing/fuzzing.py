"""A seeded fuzzer for the dataset readers and the dataset validator.

It writes a tiny synthetic world in every public format the readers take (COCO detection, refer pickles,
MDETR json, Visual Genome, Flickr30k Entities, ShareGPT-4V, LLaVA, Groma Instruct), then applies one random
mutation at a time to one file of a format — truncated file, invalid UTF-8, a value of the wrong type, a
missing key, a negative / NaN / huge / degenerate box or one outside the image, an id that refers to
nothing, broken Flickr30k markup, an image file that is empty, truncated, 1×1 or not an image — and runs
that format's readers and :func:`groma_mm.datasets.validation.validate` on the result.

Each run is judged:

- a reader must load (bad entries skipped with a reason; every sample it keeps honours the sample contract:
  finite boxes of positive size inside the image, a user/assistant conversation of strings) or refuse
  the file with an error that names it. Anything else — a ``TypeError`` from deep inside, a
  ``JSONDecodeError`` without the file, a sample with a NaN box — is a crash;
- the validator must return a report, never raise; when the mutation surely broke the data (a truncated
  file, invalid UTF-8, a bad box where a box is read, a dangling id, an unreadable image) the report must
  list at least one bad entry, else the mutation is *missed*.

    python -m groma_mm.testing.fuzzing [--mutations 500] [--seed 0]   # prints the figures per format
"""
import argparse
import json
import logging
import os
import os.path as osp
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from groma_mm.testing.fuzz_mutations import Mutation, Mutator

# Exceptions that mean a bug in the reader, whatever their message says.
PROGRAMMING_ERRORS = (TypeError, KeyError, AttributeError, IndexError, NameError, AssertionError,
                      ZeroDivisionError, RecursionError, UnboundLocalError)


@dataclass
class Outcome:
    """How the readers and the validator took one mutation."""
    mutation: Mutation
    readers: Dict[str, str]  # reader name -> 'loaded' | 'skipped' | 'refused' | 'crash: ...'
    validator: str  # 'reported' | 'clean' | 'missed' | 'crash: ...'

    @property
    def crashed(self) -> bool:
        return self.validator.startswith('crash') or any(r.startswith('crash') for r in self.readers.values())


@dataclass
class Figures:
    """Counts of one format's fuzzing run."""
    tried: int = 0
    caught: int = 0  # a reader skipped or refused it cleanly, or the validator reported it
    crashes: int = 0
    missed: int = 0
    reader: Counter = field(default_factory=Counter)
    validator: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    examples: List[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.tried += 1
        self.kinds[outcome.mutation.kind] += 1
        for result in outcome.readers.values():
            self.reader[result.split(':')[0]] += 1
        self.validator[outcome.validator.split(':')[0]] += 1
        self.caught += outcome.validator == 'reported' or any(r in ('skipped', 'refused')
                                                               for r in outcome.readers.values())
        if outcome.crashed or outcome.validator == 'missed':
            self.crashes += outcome.crashed
            self.missed += outcome.validator == 'missed'
            if len(self.examples) < 10:
                self.examples.append(outcome)


# ------------------------------------------------------------------------------------------ the formats
@dataclass
class Format:
    """One public format of the world: the files to mutate, its readers and how the validator is called.

    Attributes:
        files: ``{relative path: 'json' | 'pickle' | 'xml' | 'text'}``.
        readers: ``{name: root -> dataset}``.
        validate: ``(root) -> report``.
        box_keys: dict keys whose values are boxes the validator checks (``bbox``, ``boxes`` items), or
            VG's ``x``/``y``/``width``/``height`` quadruple (``'vg'``), or Flickr's ``bndbox``.
        id_keys: dict keys that refer to other entries (a value nobody has must be reported).
        sized: the format records image sizes (a 1×1 image file then disagrees with it).
    """
    name: str
    files: Dict[str, str]
    readers: Dict[str, Callable]
    validate: Callable
    box_keys: Tuple[str, ...] = ()
    id_keys: Tuple[str, ...] = ()
    sized: bool = True


def _formats() -> List[Format]:
    from groma_mm.datasets import readers
    from groma_mm.datasets.class_agnostic_coco import ClassAgnosticCocoDataset
    from groma_mm.datasets.validation import validate

    def reader(cls, ann_file, images='images', **kwargs):
        # mmengine's serialization runs gc.collect(), most of the cost of a tiny dataset; parsing is fuzzed.
        return lambda root: cls(ann_file=f'{root}/{ann_file}', data_prefix=dict(img=f'{root}/{images}'),
                                serialize_data=False, **{k: v(root) if callable(v) else v for k, v in kwargs.items()})

    def check(fmt, path, images='images', **kwargs):
        return lambda root: validate(f'{root}/{path}', fmt, img_dir=f'{root}/{images}', image_check='decode', **kwargs)

    coco, refs, mdetr = 'annotations/instances_train.json', 'refcoco/refs(unc).p', 'mdetr/refcoco_train.json'
    vg, flickr = 'vg/region_descriptions_train.json', 'flickr30k/train.txt'
    share, llava, groma = ('sharegpt4v/share-captioner_train.json', 'llava/llava_instruct_train.json',
                           'groma_instruct/groma_instruct_train.json')
    return [
        Format('coco', {coco: 'json'}, dict(DetectionGroundingDataset=reader(readers.DetectionGroundingDataset, coco),
                                            ClassAgnosticCocoDataset=reader(ClassAgnosticCocoDataset, coco)),
               check('coco', coco), box_keys=('bbox', ), id_keys=('image_id', 'category_id')),
        Format('refer', {refs: 'pickle', 'refcoco/instances.json': 'json'},
               dict(RefCOCODataset=reader(readers.RefCOCODataset, refs, split='train'),
                    RefCOCOgRegionCaptionDataset=reader(readers.RefCOCOgRegionCaptionDataset, refs, split='train')),
               check('refer', refs), box_keys=('bbox', ), id_keys=('ann_id', 'image_id')),
        Format('mdetr', {mdetr: 'json'}, dict(RefCOCODataset=reader(readers.RefCOCODataset, mdetr)),
               check('mdetr', mdetr), box_keys=('bbox', ), id_keys=('image_id', )),
        Format('vg', {vg: 'json', 'vg/image_data.json': 'json'},
               dict(VGRegionCaptionDataset=reader(readers.VGRegionCaptionDataset, vg, images='',
                                                  image_data_file=lambda root: f'{root}/vg/image_data.json')),
               check('vg', vg), box_keys=('vg', )),
        Format('flickr30k', {flickr: 'text', 'flickr30k/Sentences/1.txt': 'text', 'flickr30k/Annotations/1.xml': 'xml'},
               dict(Flickr30kEntitiesDataset=reader(readers.Flickr30kEntitiesDataset, flickr,
                                                    data_root=lambda root: f'{root}/flickr30k')),
               check('flickr30k', flickr), box_keys=('bndbox', )),
        Format('sharegpt4v', {share: 'json'}, dict(ImageCaptionDataset=reader(readers.ImageCaptionDataset, share)),
               check('chat', share), sized=False),
        Format('llava', {llava: 'json'}, dict(LLaVAChatDataset=reader(readers.LLaVAChatDataset, llava)),
               check('chat', llava), sized=False),
        Format('groma_instruct', {groma: 'json'}, dict(GromaInstructDataset=reader(readers.GromaInstructDataset, groma)),
               check('chat', groma), box_keys=('boxes', ), id_keys=('box_inds', )),
    ]


NUM_TRAIN_IMAGES = 2
FORMATS = ('coco', 'refer', 'mdetr', 'vg', 'flickr30k', 'sharegpt4v', 'llava', 'groma_instruct')


def write_world(root: str, seed: int = 0) -> List[str]:
    """The pristine world the mutations start from, in every format; returns the training images' paths
    (the files the training splits refer to, named 1.jpg, 2.jpg, ...)."""
    from groma_mm.datasets.synthetic_world import generate_world
    generate_world(root, NUM_TRAIN_IMAGES, 1, seed=seed, img_size=64)
    _write_mdetr(root)
    return [osp.join(root, 'images', f'{k}.jpg') for k in range(1, NUM_TRAIN_IMAGES + 1)]


def _write_mdetr(root: str) -> None:
    """MDETR json of the world's RefCOCO train refs, through the project's own converter."""
    import importlib.util

    from groma_mm.datasets.readers.refcoco import load_plain_pickle
    from groma_mm.testing.paths import REPO_ROOT
    spec = importlib.util.spec_from_file_location(
        'refer_to_mdetr_json', osp.join(REPO_ROOT, 'tools/dataset_converters/refer_to_mdetr_json.py'))
    converter = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(converter)
    with open(osp.join(root, 'refcoco/refs(unc).p'), 'rb') as f:
        refs = load_plain_pickle(f.read())
    with open(osp.join(root, 'refcoco/instances.json')) as f:
        instances = json.load(f)
    files = converter.convert(refs, instances, 'refcoco', ['train'])[0]
    os.makedirs(osp.join(root, 'mdetr'), exist_ok=True)
    with open(osp.join(root, 'mdetr/refcoco_train.json'), 'w') as f:
        json.dump(files['train'], f)


# -------------------------------------------------------------------------------------------- mutations

# ------------------------------------------------------------------------------------------- judging
def _contract_problem(sample: dict) -> Optional[str]:
    """Why a sample a reader kept breaks the sample contract, or None."""
    boxes = np.asarray(sample.get('bboxes', sample.get('instances', np.zeros((0, 4)))), dtype=object)
    if 'instances' in sample:  # ClassAgnosticCocoDataset's mmdet layout
        boxes = np.asarray([i['bbox'] for i in sample['instances']], dtype=np.float64).reshape(-1, 4)
    else:
        boxes = np.asarray(sample['bboxes'], dtype=np.float64).reshape(-1, 4)
        messages = sample.get('conversation')
        if not isinstance(messages, list) or not messages:
            return 'no conversation'
        if not all(isinstance(m.get('content'), str) and m.get('role') in ('user', 'assistant') for m in messages):
            return f'malformed messages {messages!r:.200}'
    if not np.isfinite(boxes).all():
        return f'non-finite box {boxes.tolist()}'
    if len(boxes) and ((boxes[:, 2] <= boxes[:, 0]).any() or (boxes[:, 3] <= boxes[:, 1]).any()):
        return f'box without area {boxes.tolist()}'
    height, width = sample.get('height'), sample.get('width')
    if isinstance(height, (int, float)) and isinstance(width, (int, float)) and len(boxes):
        if (boxes < -1).any() or (boxes[:, [0, 2]] > width + 1).any() or (boxes[:, [1, 3]] > height + 1).any():
            return f'box outside the {width}x{height} image {boxes.tolist()}'
    return None


def _judge_reader(build: Callable, root: str, mutated: str) -> str:
    from groma_mm.datasets.file_errors import DatasetFileError
    try:
        dataset = build(root)
        samples = [dataset.get_data_info(i) for i in range(len(dataset))]
    except DatasetFileError:  # the reader's own refusal: names the file, the error and how to list bad entries
        return 'refused'
    except PROGRAMMING_ERRORS as err:
        return f'crash: {type(err).__name__}: {err}'[:300]
    except Exception as err:  # noqa: BLE001 — any other refusal must at least name the file
        if osp.basename(mutated) in str(err):
            return 'refused'
        return f'crash: {type(err).__name__} without the file name: {err}'[:300]
    for sample in samples:
        problem = _contract_problem(sample)
        if problem:
            return f'crash: kept a bad sample: {problem}'[:300]
    return 'skipped' if getattr(dataset, 'bad_entries', None) else 'loaded'


def _judge_validator(fmt: Format, root: str, mutation: Mutation) -> str:
    try:
        report = fmt.validate(root)
    except Exception as err:  # noqa: BLE001 — the validator must report, never raise
        return f'crash: {type(err).__name__}: {err}'[:300]
    if report['issues']:
        return 'reported'
    return 'missed' if mutation.surely_bad else 'clean'


def fuzz(mutations_per_format: int = 500, seed: int = 0, formats: Optional[List[str]] = None,
         work_dir: Optional[str] = None) -> Dict[str, Figures]:
    """Run the fuzzer; ``{format: Figures}`` (module docstring).

    Raises:
        RuntimeError: the pristine world already gives a bad entry (the judging would mean nothing).
    """
    from mmengine.logging import MMLogger
    own = work_dir is None
    work_dir = work_dir or tempfile.mkdtemp(prefix='groma_fuzz_')
    root = osp.join(work_dir, 'world')
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)  # thousands of expected bad-entry warnings
    try:
        images = write_world(root, seed=seed)
        originals = {p: open(p, 'rb').read() for p in images}
        import cv2
        sizes = {p: tuple(cv2.imread(p).shape[1::-1]) for p in images}
        results = {}
        for k, fmt in enumerate(_formats()):
            if formats and fmt.name not in formats:
                continue
            pristine = {p: open(osp.join(root, p), 'rb').read() for p in fmt.files}
            baseline = Outcome(Mutation('none', '', 'pristine world', False),
                               {name: _judge_reader(build, root, '') for name, build in fmt.readers.items()},
                               _judge_validator(fmt, root, Mutation('none', '', '', False)))
            if baseline.validator != 'clean' or set(baseline.readers.values()) != {'loaded'}:
                raise RuntimeError(f'{fmt.name}: the pristine world is not clean: {baseline}')
            mutate = Mutator(fmt, pristine, sizes, images, seed * 1000 + k)
            figures = Figures()
            for _ in range(mutations_per_format):
                contents, mutation = mutate()
                for path, data in contents.items():
                    with open(osp.join(root, path), 'wb') as f:
                        f.write(data)
                readers = {name: _judge_reader(build, root, mutation.file) for name, build in fmt.readers.items()}
                figures.add(Outcome(mutation, readers, _judge_validator(fmt, root, mutation)))
                for path in contents:
                    with open(osp.join(root, path), 'wb') as f:
                        f.write(pristine[path] if path in pristine else originals[path])
            results[fmt.name] = figures
        return results
    finally:
        logger.setLevel(level)
        if own:
            shutil.rmtree(work_dir, ignore_errors=True)


def figures_table(results: Dict[str, Figures]) -> str:
    """Markdown table of a fuzzing run."""
    rows = ['| format | mutations | caught | readers: skipped / refused / loaded | validator: reported / clean '
            '| missed | crashes |', '|---|---|---|---|---|---|---|']
    for name, f in results.items():
        rows.append(f'| {name} | {f.tried} | {f.caught} | {f.reader["skipped"]} / {f.reader["refused"]} / '
                    f'{f.reader["loaded"]} | {f.validator["reported"]} / {f.validator["clean"]} | {f.missed} '
                    f'| {f.crashes} |')
    rows.append(f'| all | {sum(f.tried for f in results.values())} | {sum(f.caught for f in results.values())} | | '
                f'| {sum(f.missed for f in results.values())} | {sum(f.crashes for f in results.values())} |')
    return '\n'.join(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--mutations', type=int, default=500, help='mutations per format')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--formats', nargs='+')
    args = parser.parse_args(argv)
    results = fuzz(args.mutations, args.seed, args.formats)
    print(figures_table(results))
    for name, f in results.items():
        for outcome in f.examples:
            print(f'{name}: {outcome.mutation} -> readers {outcome.readers}, validator {outcome.validator}')


if __name__ == '__main__':
    main()
