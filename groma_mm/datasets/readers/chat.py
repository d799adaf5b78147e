"""Image captions and chat: ShareGPT-4V-PT, LLaVA-Instruct / ShareGPT-4V, Groma Instruct (paper Table 1).

Public formats:

- **LLaVA** (LLaVA-Instruct-150K, ShareGPT-4V(-PT)): a json list (or ``.jsonl``) of
  ``{"id", "image": "coco/train2017/….jpg", "conversations": [{"from": "human", "value": "<image>\\nWhat is …"},
  {"from": "gpt", "value": "…"}, …]}``. ``<image>`` marks where LLaVA put the image; Groma's prompt places the
  image itself, so the token (and the line break around it) is dropped.
- **Groma Instruct** (huggingface.co/datasets/FoundationVision/groma_instruct, as read by the official
  ``groma/data/datasets/groma.py``): a json list of ``{"file_name": VG image, "width", "height",
  "boxes": [[x, y, w, h], …], "conversation": [{"from": "human", "value": …}, {"from": "gpt", "value":
  "… <p>a man</p> <roi><ground_box></roi> …", "box_inds": [2]}, …]}``. Each ``<ground_box>`` in a turn
  stands, in order, for the box ``boxes[box_inds[j]]``. Assumed as well (not seen in the release, harmless
  when absent): user turns may refer to boxes the same way with ``<refer_box>`` or ``<region>`` plus
  ``box_inds``, and any turn may write ``<boxK>`` for ``boxes[K]`` directly; ``conversations`` is accepted for
  ``conversation`` and ``image`` for ``file_name``.
"""
import os.path as osp
import re
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.fileio import get_text, load

from groma_mm.datasets.readers.base import GromaBaseDataset, as_bboxes, image_size, xywh_box
from groma_mm.registry import DATASETS

_ROLES = {'human': 'user', 'user': 'user', 'gpt': 'assistant', 'assistant': 'assistant'}
_IMAGE_TOKEN = re.compile(r'[ \t]*<image>[ \t]*\n?|\n?[ \t]*<image>[ \t]*')
_BOX_REFERENCE = re.compile(r'<ground_box>|<refer_box>|<region>|<box(\d+)>')
_PHRASE_THEN_ROI = re.compile(r'<p>\s*(.*?)\s*</p>\s*<roi>\s*', re.S)
_SPACE_IN_ROI = re.compile(r'(<box\d+>)\s+(?=<box\d+>|</roi>)')


def load_json_records(path: str, backend_args: Optional[dict] = None) -> list:
    """A json list, or one json object per line for ``.jsonl``."""
    if path.endswith('.jsonl'):
        import json
        return [json.loads(line) for line in get_text(path, backend_args=backend_args).splitlines() if line.strip()]
    data = load(path, file_format='json', backend_args=backend_args)
    if not isinstance(data, list):
        raise ValueError(f'{path}: expected a json list of samples, got {type(data).__name__}')
    return data


def strip_image_token(text: str) -> str:
    """Drop LLaVA's ``<image>`` marker with the line break that separates it from the question."""
    return _IMAGE_TOKEN.sub(' ', text).strip()


def llava_messages(turns) -> List[dict]:
    """LLaVA ``conversations`` → ``[dict(role, content)]`` alternating user/assistant.

    A trailing unanswered user turn is dropped (nothing to learn from it).

    Raises:
        ValueError: not a list, unknown role, non-string or empty message, or roles that do not alternate
            starting with the user.
    """
    if not isinstance(turns, list) or not turns:
        raise ValueError('no conversation')
    messages = []
    for k, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise ValueError(f'turn {k} is not a dict')
        role = _ROLES.get(turn.get('from', turn.get('role')))
        value = turn.get('value', turn.get('content'))
        if role is None or not isinstance(value, str):
            raise ValueError(f'turn {k}: needs from in {sorted(_ROLES)} and a string value')
        content = strip_image_token(value)
        if not content:
            raise ValueError(f'turn {k}: empty message')
        expected = 'user' if k % 2 == 0 else 'assistant'
        if role != expected:
            raise ValueError(f'turn {k}: expected a {expected} turn, got {role} (turns must alternate, user first)')
        messages.append(dict(role=role, content=content, _turn=turn))
    if messages[-1]['role'] == 'user':
        messages.pop()
    if not messages:
        raise ValueError('no assistant reply')
    return messages


def normalize_grounding_tags(text: str) -> str:
    """``<p> a man </p><roi> <box0> <box1></roi>`` → ``<p>a man</p> <roi><box0><box1></roi>``."""
    text = _PHRASE_THEN_ROI.sub(lambda m: f'<p>{m.group(1)}</p> <roi>', text)
    return _SPACE_IN_ROI.sub(r'\1', text)


class _ChatBase(GromaBaseDataset):
    """Shared loading of LLaVA-like json lists."""

    IMAGE_KEYS: Sequence[str] = ('image', )

    def _items(self) -> Iterator[Tuple[dict, dict, str]]:
        """Yield ``(where, item, image file name)`` for items with an image; report the rest."""
        for i, item in enumerate(load_json_records(self.ann_file, self.backend_args)):
            where = dict(index=i, id=item.get('id') if isinstance(item, dict) else None)
            if not isinstance(item, dict):
                self.bad(where, 'malformed entry (not a dict)')
                continue
            image = next((item[k] for k in self.IMAGE_KEYS if isinstance(item.get(k), str) and item[k]), None)
            if image is None:
                self.bad(where, 'no image (text-only samples are not used)')
                continue
            yield where, item, image

    def _sample(self, item: dict, image: str, conversation: List[dict], bboxes=(), grounding: bool = False,
                gt: Optional[dict] = None) -> dict:
        height, width = image_size(item)
        img_id = item.get('image_id', item.get('id', osp.splitext(osp.basename(image))[0]))
        return dict(img_path=osp.join(self.img_prefix, image), img_id=img_id, height=height, width=width,
                    conversation=conversation, bboxes=as_bboxes(list(bboxes)), task=self.TASK,
                    grounding=grounding, gt=gt if gt is not None else {})


@DATASETS.register_module()
class ImageCaptionDataset(_ChatBase):
    """Image captions (ShareGPT-4V-PT; paper Table 1 "Image caption"), one sample per item::

        user:      "Describe the following image."   (an Appendix A 'caption' template, or the item's own
                                                      question with ``use_templates=False``)
        assistant: the caption
        bboxes:    (0, 4); task='caption', grounding=False; gt: gt_captions [caption]

    Items are LLaVA-style (the caption is the first ``gpt`` value) or ``{"image", "caption"}``.

    Args:
        use_templates (bool): ask with an Appendix A template (default) instead of the item's question.
        **kwargs: see :class:`GromaBaseDataset`.
    """

    TASK = 'caption'

    def __init__(self, *args, use_templates: bool = True, **kwargs) -> None:
        self.use_templates = use_templates
        super().__init__(*args, **kwargs)

    def parse(self) -> Iterator[Tuple[dict, dict]]:
        index = 0
        for where, item, image in self._items():
            question, caption = None, item.get('caption')
            if not isinstance(caption, str) and item.get('conversations') is not None:
                try:
                    messages = llava_messages(item['conversations'])
                except ValueError as e:
                    self.bad(where, f'malformed conversation: {e}')
                    continue
                question, caption = messages[0]['content'], messages[1]['content']
            caption = caption.strip() if isinstance(caption, str) else ''
            if not caption:
                self.bad(where, 'no caption')
                continue
            if self.use_templates or not question:
                question = self.instruction(index)
            conversation = [dict(role='user', content=question), dict(role='assistant', content=caption)]
            yield where, self._sample(item, image, conversation, gt=dict(gt_captions=[caption]))
            index += 1


@DATASETS.register_module()
class LLaVAChatDataset(_ChatBase):
    """Visual chat (LLaVA-Instruct conversation + complex reasoning, ShareGPT-4V; paper Table 1
    "Instruction following"): the item's conversation, roles mapped to user/assistant, ``<image>`` dropped,
    a trailing unanswered question dropped; bboxes (0, 4); task='chat', grounding=False; gt {}.

    Bad entries (skipped, reported): text-only items (no ``image``), unknown roles, non-alternating turns,
    empty messages, missing image files.
    """

    TASK = 'chat'

    def parse(self) -> Iterator[Tuple[dict, dict]]:
        for where, item, image in self._items():
            try:
                messages = llava_messages(item.get('conversations'))
            except ValueError as e:
                self.bad(where, f'malformed conversation: {e}')
                continue
            conversation = [dict(role=m['role'], content=m['content']) for m in messages]
            yield where, self._sample(item, image, conversation)


@DATASETS.register_module()
class GromaInstructDataset(_ChatBase):
    """Grounded chat (Groma Instruct; paper §4): the item's conversation with its boxes::

        user:      the question (free-form; the prompt builder adds "[grounding]" to the first)
        assistant: "… <p>a man</p> <roi><box0></roi> holding <p>a kite</p> <roi><box1></roi> …"
        bboxes:    the boxes the conversation mentions, renumbered in order of first mention, xyxy
        task='chat', grounding=True, gt {}

    Box placeholders (module docstring) become ``<boxK>``; the phrase/roi markup is normalized to the one
    format (``normalize_grounding_tags``), since the model learns it. Boxes no turn mentions are not kept.

    Bad entries (skipped, reported): placeholder count ≠ ``box_inds`` length, box index out of range,
    malformed / degenerate / outside mentioned boxes, conversation errors as in :class:`LLaVAChatDataset`,
    missing image files.
    """

    TASK = 'chat'
    IMAGE_KEYS = ('file_name', 'image')

    def parse(self) -> Iterator[Tuple[dict, dict]]:
        for where, item, image in self._items():
            try:
                conversation, bboxes = self._convert(item)
            except ValueError as e:
                self.bad(where, str(e))
                continue
            yield where, self._sample(item, image, conversation, bboxes=bboxes, grounding=True)

    @staticmethod
    def _convert(item: dict) -> Tuple[List[dict], List[List[float]]]:
        boxes = item.get('boxes') or []
        turns = item.get('conversation', item.get('conversations'))
        try:
            messages = llava_messages(turns)
        except ValueError as e:
            raise ValueError(f'malformed conversation: {e}') from None
        new_index: Dict[int, int] = {}  # index in ``boxes`` -> K of <boxK>
        conversation = []
        for k, message in enumerate(messages):
            box_inds = list(message['_turn'].get('box_inds') or [])
            consumed = 0

            def replace(match: re.Match) -> str:
                nonlocal consumed
                if match.group(1) is not None:
                    ind = int(match.group(1))
                else:
                    if consumed >= len(box_inds):
                        return match.group(0)  # counted below
                    ind = box_inds[consumed]
                    consumed += 1
                if not isinstance(ind, int) or not 0 <= ind < len(boxes):
                    raise ValueError(f'turn {k}: box index {ind!r} out of range ({len(boxes)} boxes)')
                return f'<box{new_index.setdefault(ind, len(new_index))}>'

            placeholders = sum(1 for m in _BOX_REFERENCE.finditer(message['content']) if m.group(1) is None)
            if placeholders != len(box_inds):
                raise ValueError(f'turn {k}: {placeholders} box placeholder(s) but {len(box_inds)} box_inds')
            content = normalize_grounding_tags(_BOX_REFERENCE.sub(replace, message['content']))
            conversation.append(dict(role=message['role'], content=content))
        height, width = image_size(item)
        bboxes = []
        for ind in new_index:  # insertion order = K order
            box, reason = xywh_box(boxes[ind], height, width)
            if reason is not None:
                raise ValueError(f'box {ind}: {reason}')
            bboxes.append(box)
        return conversation, bboxes
