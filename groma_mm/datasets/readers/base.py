"""What every Groma data reader shares: the sample contract, bad-entry bookkeeping, image-file checks,
box conversion and the grounded-text helpers.

Every reader's ``load_data_list`` returns samples of this form (the MLLM pipeline consumes exactly this)::

    img_path (str), img_id (str | int), height (int | None), width (int | None),   # original image size
    conversation (list[dict]): dict(role='user' | 'assistant', content=str)
    bboxes (np.ndarray): (M, 4) float32, xyxy in original image pixels; every box the conversation mentions
    task (str): 'caption' | 'region_caption' | 'rec' | 'multi_grounding' | 'grounded_caption' | 'chat'
    grounding (bool): the replies are grounded (the prompt builder adds ``[grounding]``)
    gt (dict): evaluation ground truth (``gt_bboxes`` (n, 4) xyxy, ``gt_captions``, ``split``, ...)

Boxes appear in the text as ``<boxK>`` (box ``K`` of ``bboxes``). Replies take the official Groma formats,
exactly, because the model learns them:

- REC and multi-object grounding answer with the boxes alone, ``<roi><box0></roi>`` and
  ``<roi><box0><box1>…</roi>`` (:func:`roi_reply`); the question already holds the ``<p>phrase</p>``;
- grounded captions and grounded chat wrap each phrase, ``<p>{phrase}</p> <roi><box0><box1></roi>``
  (:func:`grounded_phrase`): the phrase right inside the tags, one space, then the boxes with nothing
  between them.
"""
import math
import os.path as osp
import re
from collections import Counter
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger

from groma_mm.datasets.class_agnostic_coco import clip_box, coco_xywh_to_xyxy, existing_files
from groma_mm.datasets.file_errors import reading_annotations
from groma_mm.datasets.instruction_templates import Templates, sample_instruction

# How many bad entries the load-time warning spells out; all of them stay in ``dataset.bad_entries``.
NUM_LOGGED_BAD_ENTRIES = 10

_SPACES = re.compile(r'\s+')


def box_tokens(box_ids: Iterable[int]) -> str:
    """``[0, 2]`` → ``'<box0><box2>'``."""
    return ''.join(f'<box{int(k)}>' for k in box_ids)


def roi_reply(box_ids: Sequence[int]) -> str:
    """``[0, 2]`` → ``'<roi><box0><box2></roi>'``: the REC / multi-object grounding reply."""
    return f'<roi>{box_tokens(box_ids)}</roi>'


def grounded_phrase(phrase: str, box_ids: Sequence[int]) -> str:
    """``('a dog', [0])`` → ``'<p>a dog</p> <roi><box0></roi>'``: a grounded phrase of a caption or chat."""
    return f'<p>{phrase.strip()}</p> {roi_reply(box_ids)}'


def clean_text(text: str) -> str:
    """Collapse runs of whitespace to one space and strip (annotation text often has stray spaces)."""
    return _SPACES.sub(' ', text).strip()


def caption_case(text: str) -> str:
    """Region captions as replies: whitespace cleaned, first letter upper-cased ("man in red" → "Man in red").

    Only the first character changes; the rest keeps its case (proper nouns survive).
    """
    text = clean_text(text)
    return text[:1].upper() + text[1:]


def xywh_box(box, height: Optional[int], width: Optional[int]) -> Tuple[Optional[List[float]], Optional[str]]:
    """An ``[x, y, w, h]`` annotation box as a clipped ``[x1, y1, x2, y2]``, or ``(None, reason)``."""
    if not (isinstance(box, (list, tuple)) and len(box) == 4 and all(_is_number(v) for v in box)):
        return None, 'malformed box'
    return xyxy_box(coco_xywh_to_xyxy([float(v) for v in box]), height, width)


def xyxy_box(box, height: Optional[int], width: Optional[int]) -> Tuple[Optional[List[float]], Optional[str]]:
    """Validate (and clip to the image, when its size is known) an ``[x1, y1, x2, y2]`` box.

    Returns:
        ``(box, None)`` or ``(None, reason)`` with reason 'malformed box', 'degenerate box' or
        'box outside image'.
    """
    if not (isinstance(box, (list, tuple, np.ndarray)) and len(box) == 4 and all(_is_number(v) for v in box)):
        return None, 'malformed box'
    box = [float(v) for v in box]
    if height is None or width is None:
        if not all(math.isfinite(v) for v in box) or box[2] - box[0] < 1 or box[3] - box[1] < 1:
            return None, 'degenerate box'
        return box, None
    return clip_box(box, height, width)


def as_bboxes(boxes: Sequence[Sequence[float]]) -> np.ndarray:
    """(M, 4) float32, also for M = 0."""
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4)


def image_size(entry: dict) -> Tuple[Optional[int], Optional[int]]:
    """``(height, width)`` of an annotation's image entry, ``None`` where absent or invalid.

    Numeric strings count: MDETR's Flickr files store the xml's ``'375'``.
    """
    h, w = _as_number(entry.get('height')), _as_number(entry.get('width'))
    if _is_size(h) and _is_size(w):
        return int(h), int(w)
    return None, None


def _as_number(value):
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return value


def sample_length(sample: dict) -> int:
    """Approximate sequence length for length grouping: characters of the conversation + number of boxes."""
    chars = sum(len(m.get('content', m.get('value', '')) or '') for m in sample.get('conversation', ()))
    bboxes = sample.get('bboxes')
    return chars + (0 if bboxes is None else len(bboxes))


class GromaBaseDataset(BaseDataset):
    """Base of the Groma readers: an mmengine ``BaseDataset`` whose ``load_data_list`` returns contract
    samples (module docstring), with bad entries skipped, counted and reported.

    Subclasses implement :meth:`parse`, yielding ``(where, sample)``; ``where`` names the annotation entry
    (``dict(index=..., file=..., ...)``) for reports. Bad entries are recorded with :meth:`bad` and never
    raise. After parsing, samples whose image file is absent are dropped (``check_files``), then one
    warning through the current ``MMLogger`` gives counts per reason and the first offenders; all of them
    stay in ``bad_entries`` as dicts ``{file, index, reason, ...}``.

    ``filter_cfg`` (applied outside ``test_mode`` only, as in mmdet; ``test_mode`` keeps every sample):
    ``filter_empty_gt`` drops samples without boxes, ``max_boxes`` those with more boxes (e.g. more than
    the LLM's proxy tokens), ``min_size`` images whose shorter side is smaller.

    Args:
        seed (int): seed of the instruction-template choice (with the sample index). Defaults to 0.
        templates: custom instruction templates: a list for this reader's task, or a dict task → list.
        check_files (bool): list the image folders once and skip samples whose image is missing. Turn off
            for storage that cannot list folders. Defaults to True.
        backend_args (dict, optional): mmengine file backend arguments for annotation files and listing.
        *args, **kwargs: as for mmengine ``BaseDataset`` (``ann_file``, ``data_root``,
            ``data_prefix=dict(img=...)``, ``filter_cfg``, ``indices``, ``serialize_data``, ``pipeline``,
            ``test_mode``, ``lazy_init``, ``max_refetch``).
    """

    METAINFO: dict = dict()
    TASK: str = ''

    def __init__(self, *args, seed: int = 0, templates: Templates = None, check_files: bool = True,
                 backend_args: Optional[dict] = None, **kwargs) -> None:
        self.seed = int(seed)
        self.backend_args = backend_args
        self.templates = templates
        self.check_files = check_files
        self.bad_entries: List[dict] = []
        self._lengths: Optional[np.ndarray] = None
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------------------------ to implement
    def parse(self) -> Iterator[Tuple[dict, dict]]:
        """Yield ``(where, sample)`` for every usable sample of ``ann_file``; call :meth:`bad` for the rest."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------ helpers
    @property
    def img_prefix(self) -> str:
        """Folder image file names are relative to (``data_prefix['img']``, mmengine's ``img_path`` or
        ``data_root``)."""
        prefix = self.data_prefix.get('img') or self.data_prefix.get('img_path')
        return prefix or self.data_root or ''

    def join_root(self, path: Optional[str]) -> Optional[str]:
        """``path`` under ``data_root`` unless absolute (for a reader's extra files)."""
        if path is None or osp.isabs(path) or not self.data_root:
            return path
        return osp.join(self.data_root, path)

    def instruction(self, index: int, turn: int = 0, task: Optional[str] = None, **fields: str) -> str:
        """The seeded template of sample ``index`` (see :func:`sample_instruction`)."""
        return sample_instruction(task or self.TASK, index, seed=self.seed, turn=turn, templates=self.templates,
                                  **fields)

    def bad(self, where: dict, reason: str, **extra) -> None:
        """Record one skipped entry; ``where`` holds at least ``index`` (and ``file`` when not ``ann_file``)."""
        entry = dict(file=where.get('file', self.ann_file), index=where.get('index'))
        entry.update({k: v for k, v in where.items() if k not in entry})
        entry.update(extra)
        entry['reason'] = reason
        self.bad_entries.append(entry)

    # ----------------------------------------------------------------------------------------- loading
    def load_data_list(self) -> List[dict]:
        """Parse, drop samples without an image file, report bad entries.

        Returns:
            list[dict]: contract samples (module docstring).
        """
        self.bad_entries = []
        with reading_annotations(type(self).__name__, self.ann_file):
            parsed = list(self.parse())
        if self.check_files and parsed:
            existing = existing_files((s['img_path'] for _, s in parsed), self.backend_args)
            kept = []
            for where, sample in parsed:
                if sample['img_path'] in existing:
                    kept.append((where, sample))
                else:
                    self.bad(where, 'missing image file', img_path=sample['img_path'])
            parsed = kept
        self._report(len(parsed))
        return [sample for _, sample in parsed]

    def filter_data(self) -> List[dict]:
        """Apply ``filter_cfg`` outside ``test_mode`` (class docstring)."""
        if self.test_mode or not self.filter_cfg:
            return self.data_list
        filter_empty_gt = self.filter_cfg.get('filter_empty_gt', False)
        max_boxes = self.filter_cfg.get('max_boxes')
        min_size = self.filter_cfg.get('min_size', 0)

        def keep(sample: dict) -> bool:
            n = len(sample['bboxes'])
            if filter_empty_gt and n == 0:
                return False
            if max_boxes is not None and n > max_boxes:
                return False
            if min_size and sample['height'] is not None and min(sample['height'], sample['width']) < min_size:
                return False
            return True

        return [s for s in self.data_list if keep(s)]

    def full_init(self) -> None:
        """As mmengine's, plus the per-sample lengths for length grouping, taken before serialization."""
        if self._fully_initialized:
            return
        self.data_list = self.load_data_list()
        self.data_list = self.filter_data()
        if self._indices is not None:
            self.data_list = self._get_unserialized_subset(self._indices)
        self._lengths = np.asarray([sample_length(s) for s in self.data_list], dtype=np.int64)
        if self.serialize_data:
            if self.data_list:
                self.data_bytes, self.data_address = self._serialize_data()
            else:  # mmengine cannot serialize an empty list; every entry may be bad
                self.data_bytes, self.data_address = np.zeros(0, np.uint8), np.zeros(0, np.int64)
                self.data_list = []
        self._fully_initialized = True

    def get_subset_(self, indices) -> None:
        super().get_subset_(indices)
        self._lengths = None

    def _copy_without_annotation(self, memo=None):
        other = super()._copy_without_annotation({} if memo is None else memo)
        other._lengths = None  # get_subset: the subset's lengths are computed on demand
        return other

    @property
    def lengths(self) -> np.ndarray:
        """(N,) approximate lengths (:func:`sample_length`) of the samples, for length-grouped sampling."""
        if not self._fully_initialized:
            self.full_init()
        if self._lengths is None or len(self._lengths) != len(self):
            self._lengths = np.asarray([sample_length(self.get_data_info(i)) for i in range(len(self))],
                                       dtype=np.int64)
        return self._lengths

    def _report(self, num_samples: int) -> None:
        if not self.bad_entries:
            return
        counts = Counter(e['reason'] for e in self.bad_entries)
        summary = ', '.join(f'{reason}: {n}' for reason, n in counts.items())
        shown = []
        for e in self.bad_entries[:NUM_LOGGED_BAD_ENTRIES]:
            extra = ' '.join(f'{k}={v!r}' for k, v in e.items() if k not in ('file', 'index', 'reason'))
            shown.append(f'  {e["file"]} [index {e["index"]}]{" " + extra if extra else ""}: {e["reason"]}')
        MMLogger.get_current_instance().warning(
            f'{type(self).__name__}: skipped {len(self.bad_entries)} bad entries of {self.ann_file} '
            f'({num_samples} samples kept) — {summary}. First {len(shown)}:\n' + '\n'.join(shown)
            + '\nAll of them are in `dataset.bad_entries`.')


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _is_size(value) -> bool:
    return _is_number(value) and math.isfinite(value) and value >= 1
