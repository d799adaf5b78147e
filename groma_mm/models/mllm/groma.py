"""Groma: an MLLM that refers and grounds through region tokens (paper §3)."""
import copy
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import MMLogger
from mmengine.model import BaseModel
from mmengine.runner.checkpoint import load_checkpoint
from mmengine.structures import InstanceData
from torch import Tensor

from groma_mm.datasets.prompt_builder import IGNORE_INDEX, GromaPromptBuilder, PromptError
from groma_mm.models.llms.reply_loss import reply_loss, shared_prefix_length
from groma_mm.models.mllm.generation import build_generator
from groma_mm.models.mllm.generation_batches import GenerationBatch, build_generation_batches, sample_name
from groma_mm.models.mllm.parser import parse_grounded_answer
from groma_mm.models.mllm.prompt_embedding import embed_prompts
from groma_mm.models.mllm.proposal_cache import ProposalCache
from groma_mm.models.mllm.region_selection import user_box_indices
from groma_mm.models.mllm.shared_inputs import group_identical_boxes, group_identical_images
from groma_mm.models.proposers.groma_proposer import detr_proposals, to_input_frame
from groma_mm.registry import MODELS, TASK_UTILS


@MODELS.register_module()
class Groma(BaseModel):
    """Image encoder + region proposer + region encoder + LLM (paper Fig. 3).

    The proposer is any mmdet DETR-family detector with one class whose backbone is the image encoder;
    the encoder runs once per image and its layers feed the proposer, the image tokenizer and the region
    encoder. Regions (proposals after ``post_processor``, plus user boxes, plus — in training — the
    ground-truth boxes the answer refers to) are listed in the prompt as ``<rK><region>``; the LLM refers
    to them by their proxy tokens.

    Data samples carry (from ``PackGromaInputs``): metainfo ``conversation`` (messages with ``<boxK>``
    placeholders), ``grounding``, ``img_path``, ``ori_shape``, ``scale_factor``, and the data field
    ``bboxes`` (M, 4) xyxy original-image pixels, the boxes the conversation mentions.

    Samples of a batch that show the same image (equal encoder inputs) are encoded once: the encoder,
    the proposer and the image tokenizer run on the distinct images, the region encoder on the distinct
    (image, regions) pairs.

    Args:
        proposer: detector config (e.g. ``GromaProposer``, mmdet ``DINO``); its backbone is the image
            encoder. Any module with a ``backbone`` and ``propose(encoder_feats, data_samples)`` works too.
        image_tokenizer: e.g. ``MergedPatchTokenizer``; ``out_channels`` is filled from the LLM.
        region_encoder: e.g. ``MultiScaleRoIRegionEncoder``; ``out_channels`` is filled from the LLM.
        tokenizer: tokenizer config (``HFTokenizer``, or ``TinyWordTokenizer`` for tests).
        llm: LLM config (``HFCausalLM``); it receives the built tokenizer and ``num_proxy_tokens``.
        prompt: ``GromaPromptBuilder`` options (template, num_image_tokens, max_length, intro_turn, …).
        post_processor: proposal filter of the default region selection (``RegionPostProcessor``): NMS
            0.6, score 0.15, top 100.
        region_selector: how regions are chosen from proposals and conversation boxes (``TASK_UTILS``);
            ``None`` is our recipe, ``ScoreRankedRegionSelector`` over ``post_processor`` and
            ``answer_score``; ``OfficialRegionSelector`` is the released checkpoints' one NMS.
        proposer_checkpoint: stage-1 checkpoint loaded into the proposer.
        freeze_proposer: keep the encoder and proposer frozen (stages 2 and 3).
        proposal_cache: with a frozen proposer, keep the raw proposals of up to this many images across
            batches (``ProposalCache``), so an image that comes back (next epoch, next expression) skips the
            proposer's transformer and head; 0: none. Loading proposer weights empties it.
        freeze_image_tokenizer / freeze_region_encoder: freeze those parts.
        image_layer: index (into the encoder outputs) of the layer the image tokenizer reads.
        region_layers: indices of the layers the region encoder reads (of ``region_feature_encoder``'s
            outputs when there is one).
        region_feature_encoder: an encoder of the region encoder's own (e.g. ``FrozenConvEncoder``;
            it trains if it has trainable weights), for when the proposer's encoder is not general-purpose (the toy configs, whose ViT
            learns objectness only); ``None``: the region encoder reads the proposer's encoder, as Groma.
        num_proxy_tokens: N of ``<r0>…<r{N-1}>``; at most N regions per image.
        answer_score: rank score of a ground-truth answer box no proposal stands for (default selector).
        shuffle_regions: random region order in training (inference is always ordered by score).
        save_trainable_only: checkpoints hold only trainable weights (a stage's checkpoint holds what
            that stage trained), and the image tokenizer, region encoder and region feature encoder whole
            even when frozen (no other file holds them); :meth:`full_state_dict` gives everything.
        generation_cfg: generation options (greedy by default). A sample's metainfo ``generation_cfg``
            overrides them for that sample alone: a batch is generated in groups of equal settings.
        generator: how answers are generated: ``'hf'`` (transformers' ``generate``, every option),
            ``'static'`` (static KV cache, CUDA-graph decode on CUDA; greedy and sampling) or a
            ``TASK_UTILS`` config such as ``dict(type='StaticCacheGenerator', cache_multiple=128)``.
    """

    def __init__(self,
                 proposer: dict,
                 image_tokenizer: dict,
                 region_encoder: dict,
                 tokenizer: dict,
                 llm: dict,
                 prompt: Optional[dict] = None,
                 post_processor: dict = dict(type='RegionPostProcessor'),
                 region_selector: Optional[dict] = None,
                 proposer_checkpoint: Optional[str] = None,
                 freeze_proposer: bool = True,
                 proposal_cache: int = 0,
                 freeze_image_tokenizer: bool = False,
                 freeze_region_encoder: bool = False,
                 image_layer: int = -1,
                 region_layers: Sequence[int] = (-3, -2, -1),
                 region_feature_encoder: Optional[dict] = None,
                 num_proxy_tokens: int = 100,
                 answer_score: float = 0.2,
                 shuffle_regions: bool = False,
                 save_trainable_only: bool = True,
                 generation_cfg: Optional[dict] = None,
                 generator: Union[str, dict] = 'hf',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg=None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        # mmdet's DETRs write into their config while building; keep the caller's intact.
        self.proposer = MODELS.build(copy.deepcopy(proposer))
        if proposer_checkpoint is not None:
            load_checkpoint(self.proposer, proposer_checkpoint, map_location='cpu', strict=True,
                            revise_keys=[(r'^module\.', '')])
        self.proposer_checkpoint = proposer_checkpoint
        self.region_selector = TASK_UTILS.build(region_selector or dict(
            type='ScoreRankedRegionSelector', post_processor=post_processor, answer_score=answer_score))
        if self.region_selector.max_regions > num_proxy_tokens:
            raise ValueError(f'region selection keeps up to {self.region_selector.max_regions} regions (max_regions) '
                             f'but num_proxy_tokens={num_proxy_tokens}: some regions would have no proxy token')

        self.tokenizer = MODELS.build(tokenizer)
        self.llm = MODELS.build(dict(llm, tokenizer=self.tokenizer, num_proxy_tokens=num_proxy_tokens))
        hidden = self.llm.config.hidden_size
        self.image_tokenizer = MODELS.build(dict(image_tokenizer, out_channels=hidden))
        self.region_encoder = MODELS.build(dict(region_encoder, out_channels=hidden))
        self.prompt_builder = GromaPromptBuilder(self.tokenizer, num_proxy_tokens=num_proxy_tokens,
                                                 **(prompt or {}))

        self.freeze_proposer = freeze_proposer
        if freeze_proposer:
            self.proposer.eval()  # a training-mode DETR would ask for denoising targets
        for module, frozen in ((self.proposer, freeze_proposer), (self.image_tokenizer, freeze_image_tokenizer),
                               (self.region_encoder, freeze_region_encoder)):
            if frozen:
                module.requires_grad_(False)
        if proposal_cache < 0:
            raise ValueError(f'proposal_cache is the number of images whose proposals are kept (0: none), '
                             f'got {proposal_cache}')
        if proposal_cache and not freeze_proposer:
            raise ValueError(f'proposal_cache={proposal_cache} keeps the proposals of a frozen proposer, but '
                             'freeze_proposer=False: a training proposer changes them every step')
        self.proposal_cache = ProposalCache(proposal_cache) if proposal_cache else None
        if self.proposal_cache is not None:
            self.proposer.register_load_state_dict_post_hook(self.proposal_cache.forget_all)
        self.image_layer = image_layer
        self.region_layers = tuple(region_layers)
        self.region_feature_encoder = MODELS.build(region_feature_encoder) if region_feature_encoder else None
        self.shuffle_regions = shuffle_regions
        self.save_trainable_only = save_trainable_only
        self.generation_cfg = dict(max_new_tokens=128, do_sample=False)
        self.generation_cfg.update(generation_cfg or {})
        self.generator = build_generator(generator)
        self.num_skipped = 0

    # ------------------------------------------------------------------------------------ plumbing
    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_proposer:
            self.proposer.eval()
        if mode:
            self.generator.release()  # a generator's KV caches serve inference; training needs the memory
        return self

    def init_weights(self):
        # A stage-1 checkpoint (loaded in __init__) and a pretrained LLM must survive; a proposer without
        # one is random and needs its init (mmdet leaves some of its tensors uninitialized until then).
        modules = [self.image_tokenizer, self.region_encoder]
        if self.proposer_checkpoint is None:
            modules.append(self.proposer)
        for module in modules:
            module.init_weights()

    def state_dict(self, *args, **kwargs):
        full = super().state_dict(*args, **kwargs)
        if not self.save_trainable_only:
            return full
        prefix = kwargs.get('prefix', '')
        trainable = {prefix + name for name, p in self.named_parameters() if p.requires_grad}
        # The proposer and the LLM come back from their own files; these modules have no other source (a
        # pretrained region feature encoder's file is named only in the stage that first builds it).
        sourceless = tuple(f'{prefix}{name}.'
                           for name in ('image_tokenizer', 'region_encoder', 'region_feature_encoder'))
        return OrderedDict((k, v) for k, v in full.items() if k in trainable or k.startswith(sourceless))

    def full_state_dict(self) -> Dict[str, Tensor]:
        """Every weight, for a one-file inference checkpoint."""
        return super().state_dict()

    # ------------------------------------------------------------------------------------ encoding
    def _encode(self, inputs: Tensor, data_samples: list, training: bool):
        """Run the front end once per distinct image; regions, image tokens and region tokens per sample.

        Returns:
            image tokens (B, T, D); region tokens and regions (InstanceData, encoder-input pixels) per
            sample; box→region id maps per sample (user boxes always, answer boxes in training).
        """
        feats, image_of = self.encode_images(inputs, data_samples)
        regions_list, maps = self.propose_regions(feats, image_of, data_samples, training, inputs)
        image_tokens = self.image_tokenizer(feats[self.image_layer])[image_of]
        region_tokens = self.encode_regions(feats, image_of, regions_list, inputs)
        return image_tokens, region_tokens, regions_list, maps

    def encode_images(self, inputs: Tensor, data_samples: list) -> Tuple[List[Tensor], List[int]]:
        """The encoder's layers for each distinct image of the batch.

        Returns:
            the encoder outputs, each (U, C, h, w) for the U distinct images; per sample, its image's index.
        """
        firsts, image_of = group_identical_images(inputs, data_samples)
        if len(firsts) < len(inputs):
            inputs = inputs[firsts]
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_proposer):
            feats = self.proposer.backbone(inputs)
        return feats, image_of

    def propose_regions(self, feats: Sequence[Tensor], image_of: List[int], data_samples: list, training: bool,
                        inputs: Optional[Tensor] = None) -> Tuple[List[InstanceData], List[dict]]:
        """Proposals per distinct image, then each sample's regions (with its own boxes) and box→region map.

        ``inputs`` (B, 3, H, W), the batch, lets the ``proposal_cache`` know the images it has seen before.
        """
        firsts = [image_of.index(u) for u in range(len(feats[0]))]
        proposals = self.raw_proposals(feats, [data_samples[i] for i in firsts],
                                       None if inputs is None else inputs[firsts])
        regions_list, maps = [], []
        for sample, image in zip(data_samples, image_of):
            props = proposals[image]
            bboxes = sample.get('bboxes', feats[0].new_zeros((0, 4)))
            bboxes = to_input_frame(bboxes.to(props.bboxes), sample)
            users = {k for k in user_box_indices(sample.conversation) if k < len(bboxes)}
            if not training:
                # Only what the user gives may enter at inference; answer boxes would leak the target.
                bboxes = bboxes[sorted(users)] if users else bboxes[:0]
                index_of = sorted(users)
                users = set(range(len(index_of)))
            regions, box_to_region = self.region_selector(props, bboxes, users,
                                                          shuffle=training and self.shuffle_regions)
            if not training:
                box_to_region = {index_of[i]: r for i, r in enumerate(box_to_region)}
            regions_list.append(regions)
            maps.append(box_to_region)
        return regions_list, maps

    def raw_proposals(self, feats: Sequence[Tensor], image_samples: list,
                      images: Optional[Tensor] = None) -> List[InstanceData]:
        """The proposer's raw proposals of each image (``propose``, or any mmdet DETR's head).

        Args:
            feats: the encoder outputs, each (U, C, h, w).
            image_samples: U samples, one per image.
            images: (U, 3, H, W) the encoder inputs; with them the ``proposal_cache`` is read and filled.
        """
        def compute(indices: List[int]) -> List[InstanceData]:
            # fp32 even under bf16 autocast: mmcv's deformable-attention CUDA kernel has no bf16.
            with torch.no_grad(), torch.autocast(feats[0].device.type, enabled=False):
                feats32 = [(f if len(indices) == len(f) else f[indices]).float() for f in feats]
                samples = [image_samples[u] for u in indices]
                propose = getattr(self.proposer, 'propose', None)
                return propose(feats32, samples) if propose else detr_proposals(self.proposer, feats32, samples)

        if self.proposal_cache is None or images is None:
            found = compute(list(range(len(image_samples))))
        else:
            found = self.proposal_cache.fetch(images, image_samples, compute)
        return [props.to(feats[0].device) for props in found]

    def region_layer_feats(self, feats: Sequence[Tensor], image_of: List[int], inputs: Tensor) -> List[Tensor]:
        """The layers the region encoder reads, each (U, C, h, w) for the U distinct images: the proposer's
        encoder outputs ``feats``, or ``region_feature_encoder`` run on those images of ``inputs`` (B, 3, H, W)."""
        if self.region_feature_encoder is None:
            return [feats[i] for i in self.region_layers]
        firsts = [image_of.index(u) for u in range(len(feats[0]))]
        trains = any(p.requires_grad for p in self.region_feature_encoder.parameters())
        with torch.set_grad_enabled(torch.is_grad_enabled() and trains):
            own = self.region_feature_encoder(inputs[firsts])
        if not all(-len(own) <= i < len(own) for i in self.region_layers):
            raise ValueError(f'region_layers {self.region_layers} index the region_feature_encoder\'s outputs, '
                             f'which has {len(own)} layers')
        return [own[i] for i in self.region_layers]

    def encode_regions(self, feats: Sequence[Tensor], image_of: List[int], regions_list: List[InstanceData],
                       inputs: Tensor) -> List[Tensor]:
        """Region tokens per sample, (R_b, D); a region set repeated on one image is encoded once.

        ``feats``: the proposer's encoder outputs for the distinct images; ``inputs``: the batch (B, 3, H, W).
        """
        firsts, set_of = group_identical_boxes(image_of, [r.bboxes for r in regions_list])
        members = [[s for s in firsts if image_of[s] == u] for u in range(len(feats[0]))]
        boxes = [torch.cat([regions_list[s].bboxes for s in group]) for group in members]
        per_image = self.region_encoder(self.region_layer_feats(feats, image_of, inputs), boxes, inputs.shape[-2:])
        per_set = {}
        for group, tokens in zip(members, per_image):
            per_set.update(zip(group, tokens.split([len(regions_list[s].bboxes) for s in group])))
        return [per_set[firsts[k]] for k in set_of]

    def _embed(self, batch: dict, image_tokens: Tensor, region_tokens: List[Tensor]) -> Tensor:
        """LLM input embeddings with the image/region slots filled (:func:`embed_prompts`)."""
        return embed_prompts(self.llm.get_input_embeddings(), batch, image_tokens, region_tokens)

    def _skip(self, sample, err: Exception) -> None:
        self.num_skipped += 1
        MMLogger.get_current_instance().warning(
            f'skipped {sample_name(sample)}: {err} ({self.num_skipped} samples skipped so far)')

    # ------------------------------------------------------------------------------------ modes
    def forward(self, inputs: Tensor, data_samples: Optional[list] = None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._encode(inputs, data_samples, training=False)
        raise RuntimeError(f'invalid mode "{mode}"; only "loss", "predict" and "tensor" are supported')

    def loss(self, inputs: Tensor, data_samples: list) -> Dict[str, Tensor]:
        """Masked next-token loss over the assistant replies of the batch.

        A sample that cannot be trained on is skipped, counted and logged with its file and index, whatever
        the reason: non-finite boxes, more boxes than region slots or anything else its encoding raises, a
        prompt that cannot be built (empty conversation, ...), no reply token left to learn from. The rest
        of the batch trains. A non-finite loss is logged with the batch's samples; the optimizer wrapper
        (``SkipNonFiniteOptimWrapper``) then skips the update.

        Returns:
            ``loss`` and ``skipped`` (samples of this batch left out).
        """
        encoded, (image_tokens, region_tokens, regions, maps) = self._encode_trainable(inputs, data_samples)
        prompts, keep = [], []
        for i in encoded:
            sample = data_samples[i]
            try:
                prompt = self.prompt_builder(sample.conversation, len(regions[i]), maps[i],
                                             grounding=sample.get('grounding', False), sample=sample_name(sample))
            except Exception as err:  # noqa: BLE001 — any malformed sample is one skipped sample, not a dead run
                self._skip(sample, err)
                continue
            if not (prompt.labels != IGNORE_INDEX).any():
                self._skip(sample, PromptError('no reply token to learn from (every label is masked)'))
                continue
            prompts.append(prompt)
            keep.append(i)
        skipped = inputs.new_tensor(float(len(data_samples) - len(keep)))
        if not prompts:
            # Every sample was bad: a zero loss that still touches the trainable weights (DDP needs it).
            return dict(loss=sum(p.sum() for p in self.parameters() if p.requires_grad) * 0.0, skipped=skipped)
        batch = self.prompt_builder.pad(prompts, padding_side='right')
        batch = {k: v.to(inputs.device) if isinstance(v, Tensor) else v for k, v in batch.items()}
        embeds = self._embed(batch, image_tokens[keep], [region_tokens[i] for i in keep])
        # The system line and the intro words before the image slots are the same in every prompt: run once.
        shared = shared_prefix_length(batch['input_ids'], batch['image_mask'], batch['region_mask'])
        loss = reply_loss(self.llm, embeds, batch['attention_mask'], batch['labels'], shared)
        if not torch.isfinite(loss):
            MMLogger.get_current_instance().warning(
                f'non-finite loss {loss.item()} on the batch of ' + ', '.join(sample_name(data_samples[i])
                                                                       for i in keep))
        return dict(loss=loss, skipped=skipped)

    def _encode_trainable(self, inputs: Tensor, data_samples: list) -> tuple:
        """:meth:`_encode` in training mode over the samples that encode; the others are skipped.

        Returns:
            the batch indices encoded, and ``_encode``'s outputs indexed by batch index (entries of skipped
            samples are never read).
        """
        usable = []
        for i, sample in enumerate(data_samples):
            boxes = sample.get('bboxes', None)
            if boxes is not None and not torch.isfinite(boxes).all():
                self._skip(sample, ValueError(f'non-finite box among {boxes.tolist()}'))
            else:
                usable.append(i)
        try:
            outputs = self._encode_subset(inputs, data_samples, usable)
        except Exception:  # noqa: BLE001 — find the samples that fail alone; the others train together
            alone = []
            for i in usable:
                try:
                    with torch.no_grad():
                        self._encode(inputs[i:i + 1], [data_samples[i]], training=True)
                    alone.append(i)
                except Exception as err:  # noqa: BLE001
                    self._skip(data_samples[i], err)
            if len(alone) == len(usable):
                raise  # not a per-sample failure
            usable = alone
            outputs = self._encode_subset(inputs, data_samples, usable)
        return usable, outputs

    def _encode_subset(self, inputs: Tensor, data_samples: list, indices: List[int]) -> tuple:
        """``_encode`` of ``indices`` only, its per-sample outputs placed back at their batch indices."""
        size = len(data_samples)
        if len(indices) == size:
            return self._encode(inputs, data_samples, training=True)
        if not indices:
            return None, [], [], []
        image_tokens, region_tokens, regions, maps = self._encode(inputs[indices], [data_samples[i] for i in indices],
                                                                  training=True)
        placed_tokens = image_tokens.new_zeros((size, ) + tuple(image_tokens.shape[1:]))
        placed_tokens[indices] = image_tokens
        placed = [[None] * size for _ in range(3)]
        for k, i in enumerate(indices):
            placed[0][i], placed[1][i], placed[2][i] = region_tokens[k], regions[k], maps[k]
        return (placed_tokens, *placed)

    @torch.no_grad()
    def predict_regions(self, inputs: Tensor, data_samples: list) -> List[InstanceData]:
        """The regions each image gets at inference (user boxes first), ``bboxes`` in original pixels."""
        regions = self._encode(inputs, data_samples, training=False)[2]
        for region, sample in zip(regions, data_samples):
            region.bboxes = region.bboxes / region.bboxes.new_tensor(sample.scale_factor).repeat(2)
        return regions

    @torch.no_grad()
    def predict(self, inputs: Tensor, data_samples: list) -> list:
        """Answer each sample's last user message; one padded generation per group of equal settings.

        Adds to each sample: ``pred_text`` (clean answer), ``pred_answer`` (``GroundedAnswer``: spans
        with phrases, region ids and boxes in original pixels; flags for anything malformed),
        ``raw_answer`` (with Groma's tags), ``pred_bboxes`` (K, 4) the referred boxes in answer order,
        ``pred_region_ids`` and ``regions`` (all regions, original pixels, with scores). A sample whose
        prompt cannot be built (e.g. it refers to a box it does not give) gets an empty answer and
        ``error``; the rest of the batch is answered. Samples whose metainfo ``generation_cfg`` differ are
        generated in separate groups, each with its own settings.
        """
        image_tokens, region_tokens, regions, maps = self._encode(inputs, data_samples, training=False)
        generated = {}
        for batch in self.generation_batches(data_samples, image_tokens, region_tokens, regions, maps):
            generated.update(zip(batch.indices, self.generate(batch)))
        for i, (sample, region) in enumerate(zip(data_samples, regions)):
            boxes = region.bboxes / region.bboxes.new_tensor(sample.scale_factor).repeat(2)
            raw = self.prompt_builder.decode_reply(generated[i]) if i in generated else ''
            answer = parse_grounded_answer(raw, boxes, num_regions=len(boxes))
            ids_ = answer.referred_region_ids
            sample.raw_answer = raw
            sample.pred_answer = answer
            sample.pred_text = answer.text
            sample.pred_region_ids = ids_
            sample.pred_bboxes = boxes[ids_] if ids_ else boxes.new_zeros((0, 4))
            sample.regions = InstanceData(bboxes=boxes, scores=region.scores)
        return data_samples

    def generation_batches(self, data_samples: list, image_tokens: Tensor, region_tokens: List[Tensor],
                           regions: List[InstanceData], maps: List[dict]) -> List[GenerationBatch]:
        """One embedded :class:`GenerationBatch` per distinct generation settings
        (:func:`build_generation_batches`); a sample whose prompt cannot be built gets ``error``."""
        return build_generation_batches(self.prompt_builder, self.generation_cfg, self._embed, data_samples,
                                        image_tokens, region_tokens, regions, maps)

    def generate(self, batch: GenerationBatch) -> List[List[int]]:
        """The new token ids of each sample of ``batch`` (padding after a stop token)."""
        out = self.generator(self.llm, batch.inputs_embeds, batch.attention_mask,
                             stop_token_ids=self.prompt_builder.stop_token_ids,
                             pad_token_id=self.prompt_builder.pad_token_id, **batch.options)
        return out.tolist()
