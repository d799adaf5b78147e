"""Batched referring and grounding with a trained Groma."""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from groma_mm.apis.inputs import ImageInput, InputError, check_box_references, check_boxes, load_image
from groma_mm.engine.checkpoint_loading import load_weights, maybe_trusted
from groma_mm.registry import MODELS, TRANSFORMS
from groma_mm.utils import register_all_modules

Boxes = Optional[Sequence[Sequence[float]]]


@dataclass
class GroundedResult:
    """One answer. Boxes are xyxy in original-image pixels.

    Attributes:
        text: the answer without Groma's tags.
        raw: the generated text with tags (``<p>…</p> <roi><r3></roi>``).
        spans: ``[{'phrase', 'boxes', 'region_ids'}]`` in answer order.
        boxes: every box the answer refers to, in order (REC: the first is the answer).
        regions: all regions the model saw (``bboxes``, ``scores``), user boxes included.
        flags: what the parser dropped (unknown region ids, unclosed tags).
        error: why this request was not answered (bad image, box or prompt), else ``None``.
    """
    text: str = ''
    raw: str = ''
    spans: List[dict] = field(default_factory=list)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    regions: Dict[str, np.ndarray] = field(default_factory=dict)
    flags: List[str] = field(default_factory=list)
    error: Optional[str] = None

    def to_dict(self) -> dict:
        return dict(text=self.text, raw=self.raw, error=self.error, flags=self.flags,
                    boxes=np.round(self.boxes, 2).tolist(), spans=self.spans,
                    regions={k: np.round(v, 4).tolist() for k, v in self.regions.items()})


class GromaInferencer:
    """Answer prompts about images, many at a time: one padded forward and one ``generate`` per batch.

    Prompts refer to the user's boxes as ``<box0>``, ``<box1>``, … (box K of that image's ``boxes``);
    the model sees each as a region token. ``[grounding]`` (or ``grounding=True``) asks for an answer
    whose phrases point at regions.

    Args:
        config: a Groma config file or ``Config``.
        checkpoint: weights to load (``.pth`` or ``.safetensors``): a full file, or a stage checkpoint on
            top of the config's sources (``proposer_checkpoint``, a pretrained LLM). Loaded strictly: a
            weight with no value, or one the model lacks, raises ``CheckpointMismatchError`` naming it.
        device: torch device (``'cuda'`` on a GPU).
        image_size: encoder input (H, W); read from the config's ``image_size`` when not given.
        generation_cfg: default ``generate`` options (e.g. ``max_new_tokens``, ``temperature``,
            ``top_p``, ``do_sample``); greedy unless changed.
        trust_checkpoint: unpickle the checkpoints (this one and the config's ``proposer_checkpoint``) in
            full, which runs any code they contain; by default anything beyond weights is refused with
            ``UnsafeCheckpointError``. Only for files from a source you trust.
    """

    def __init__(self,
                 config: Union[str, Config],
                 checkpoint: Optional[str] = None,
                 device: str = 'cpu',
                 image_size: Optional[Sequence[int]] = None,
                 generation_cfg: Optional[dict] = None,
                 trust_checkpoint: bool = False) -> None:
        register_all_modules()
        cfg = Config.fromfile(config) if isinstance(config, str) else config
        self.cfg = cfg
        with maybe_trusted(trust_checkpoint):
            self.model = MODELS.build(cfg.model)
            if checkpoint is None:
                self.model.init_weights()
            else:  # every weight comes from the checkpoint or a source: nothing to initialize
                load_weights(self.model, checkpoint, map_location='cpu', strict=True)
        self.model.to(device).eval()
        size = tuple(image_size or cfg.get('image_size', (448, 448)))
        self.resize = TRANSFORMS.build(dict(type='mmdet.Resize', scale=(size[1], size[0]), keep_ratio=False))
        self.pack = TRANSFORMS.build(dict(type='PackGromaInputs'))
        self.generation_cfg = dict(generation_cfg or {})
        self.max_boxes = self.model.region_selector.max_regions

    # ------------------------------------------------------------------------------------ core
    def _prepare(self, index: int, image: ImageInput, conversation: List[dict], boxes: Boxes, grounding: bool,
                 generation_cfg: dict) -> dict:
        name = image if isinstance(image, str) else f'image {index}'
        img = load_image(image, name)
        height, width = img.shape[:2]
        bboxes = check_boxes(boxes, width, height, self.max_boxes, name)
        check_box_references(conversation, len(bboxes), name)
        results = dict(img=img, img_shape=(height, width), ori_shape=(height, width), img_path=name,
                       sample_idx=index, conversation=conversation, grounding=grounding, bboxes=bboxes)
        packed = self.pack(self.resize(results))
        packed['data_samples'].set_metainfo(dict(generation_cfg=generation_cfg))
        return packed

    def _result(self, sample) -> GroundedResult:
        if sample.get('error'):
            return GroundedResult(error=sample.error)
        answer = sample.pred_answer
        spans = [
            dict(phrase=s.phrase, region_ids=list(s.region_ids),
                 boxes=[] if s.boxes is None else np.round(s.boxes.cpu().numpy(), 2).tolist()) for s in answer.spans
        ]
        return GroundedResult(
            text=answer.text,
            raw=sample.raw_answer,
            spans=spans,
            boxes=sample.pred_bboxes.cpu().numpy(),
            regions=dict(bboxes=sample.regions.bboxes.cpu().numpy(), scores=sample.regions.scores.cpu().numpy()),
            flags=list(answer.flags))

    def chat(self,
             images: Union[ImageInput, Sequence[ImageInput]],
             conversations: Union[List[dict], Sequence[List[dict]]],
             boxes: Union[Boxes, Sequence[Boxes]] = None,
             grounding: Union[bool, Sequence[bool]] = False,
             batch_size: int = 8,
             **generation_cfg) -> Union[GroundedResult, List[GroundedResult]]:
        """Answer the last user message of each conversation about its image.

        Args:
            images: one image or a list (file paths or BGR arrays).
            conversations: one conversation (a list of ``dict(role, content)`` ending with the user's
                message) per image.
            boxes: per image, user boxes ``[[x1, y1, x2, y2], …]`` in its pixels, named ``<boxK>`` in text.
            grounding: per image (or for all), ask for a grounded answer.
            batch_size: images per forward pass.
            **generation_cfg: overrides of ``generate`` options for this call.

        Returns:
            One :class:`GroundedResult` per image (a single one for a single image). A bad input gives
            a result with ``error`` and the rest of the batch is still answered.
        """
        single = isinstance(images, (str, np.ndarray))
        if single:
            images, conversations, boxes = [images], [conversations], [boxes]
        n = len(images)
        boxes = list(boxes) if boxes is not None else [None] * n
        flags = [grounding] * n if isinstance(grounding, bool) else list(grounding)
        if not (len(conversations) == len(boxes) == len(flags) == n):
            raise ValueError(f'{n} images but {len(conversations)} conversations, {len(boxes)} box lists and '
                             f'{len(flags)} grounding flags')
        generation = dict(self.generation_cfg, **generation_cfg)
        results: List[Optional[GroundedResult]] = [None] * n
        ready = []
        for i in range(n):
            try:
                ready.append((i, self._prepare(i, images[i], list(conversations[i]), boxes[i], flags[i], generation)))
            except InputError as err:
                results[i] = GroundedResult(error=str(err))
        for start in range(0, len(ready), batch_size):
            chunk = ready[start:start + batch_size]
            with torch.no_grad():
                data = self.model.data_preprocessor(pseudo_collate([p for _, p in chunk]), False)
                out = self.model(**data, mode='predict')
            for (i, _), sample in zip(chunk, out):
                results[i] = self._result(sample)
        return results[0] if single else results

    # ------------------------------------------------------------------------------------ tasks
    def ask(self, images, prompts, boxes=None, grounding=False, **kwargs):
        """One question per image: ``prompts`` is a string or a list of strings (several prompts with one
        image: see :meth:`ask_about`)."""
        single = isinstance(images, (str, np.ndarray))
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        conversations = [[dict(role='user', content=p)] for p in prompts]
        if single and len(prompts) > 1:
            return self.ask_about(images, prompts, boxes, grounding, **kwargs)
        if single:
            return self.chat(images, conversations[0], boxes, grounding, **kwargs)
        if len(conversations) == 1:
            conversations = conversations * len(images)
        return self.chat(images, conversations, boxes, grounding, **kwargs)

    def ask_about(self, image: ImageInput, prompts: Sequence[str], boxes: Boxes = None,
                  grounding: Union[bool, Sequence[bool]] = False, **kwargs) -> List[GroundedResult]:
        """Several questions about one image (its ``boxes`` shared by all), answered in one batch.

        The model encodes each distinct image of a batch once, so the encoder and the proposer see this
        image once, and questions with the same boxes share its region tokens. ``batch_size`` defaults to
        the number of questions; a smaller one encodes the image once per batch.

        Returns:
            One :class:`GroundedResult` per prompt, in order.
        """
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        kwargs.setdefault('batch_size', max(len(prompts), 1))
        conversations = [[dict(role='user', content=p)] for p in prompts]
        return self.chat([image] * len(prompts), conversations, [boxes] * len(prompts), grounding, **kwargs)

    def ground(self, images, expressions, all_instances: bool = False, **kwargs):
        """Referring expression comprehension ("Locate <p>…</p> in the image."), or with
        ``all_instances`` multi-object grounding ("Locate all <p>…</p> in this image.")."""
        template = 'Locate all <p>{}</p> in this image.' if all_instances else 'Locate <p>{}</p> in the image.'
        expressions = [expressions] if isinstance(expressions, str) else expressions
        return self.ask(images, [template.format(e) for e in expressions], **kwargs)

    def describe_region(self, images, boxes, **kwargs):
        """Region captioning of one box per image (``boxes``: a box, or one box per image)."""
        single = isinstance(images, (str, np.ndarray))
        per_image = [boxes] if single else [[b] for b in boxes]
        return self.ask(images, 'Please briefly describe <box0>.', per_image, **kwargs)

    def grounded_caption(self, images, **kwargs):
        """A short description whose phrases point at regions."""
        return self.ask(images, 'Give me a short description of the image.', grounding=True, **kwargs)

    def propose(self, images) -> Union[Dict[str, np.ndarray], List[Dict[str, np.ndarray]]]:
        """The proposer's regions alone (after post-processing), original pixels."""
        single = isinstance(images, (str, np.ndarray))
        images = [images] if single else list(images)
        packed = [self._prepare(i, img, [dict(role='user', content='')], None, False, {})
                  for i, img in enumerate(images)]
        with torch.no_grad():
            data = self.model.data_preprocessor(pseudo_collate(packed), False)
            regions = self.model.predict_regions(data['inputs'], data['data_samples'])
        out = [dict(bboxes=r.bboxes.cpu().numpy(), scores=r.scores.cpu().numpy()) for r in regions]
        return out[0] if single else out
