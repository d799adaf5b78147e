"""Text-only REC lookups over the synthetic world's objects, for pretraining a toy LLM (``tools/pretrain_toy_llm.py``).

Each region slot of Groma's prompt holds a "word bag" (the sum of the LLM's own embeddings of an object's size,
colour and shape words, plus noise) instead of a region token, so an LLM learns to point before it sees an image.
"""
import itertools

import numpy as np
import torch
import torch.nn.functional as F

from groma_mm.datasets.instruction_templates import TABLE9
from groma_mm.models.llms.reply_loss import reply_logits, shared_prefix_length, token_cross_entropy
from .expressions import POSITIONS, RELATIONS, referring_expressions
from .scene import COLOURS, SHAPES, SIZES, sample_scene


class WordBagLookup:
    """Text-only REC prompts over objects named by their words, for one Groma model's LLM and prompt."""

    OBJECTS = list(itertools.product(SIZES, COLOURS, SHAPES))
    SCENE_POOL = 4096

    def __init__(self, model, max_regions: int, gen: torch.Generator, describe: float = 0.0,
                 expressions: str = 'attributes', image_noise: float = 0.0, scene_seed: int = 1000,
                 slot_noise: float = 0.3, image_bags: float = 0.0, slot_scale: float = 1.0) -> None:
        self.model, self.max_regions, self.gen, self.describe = model, max_regions, gen, describe
        self.expressions, self.image_noise, self.slot_noise = expressions, image_noise, slot_noise
        self.image_bags, self.slot_scale = image_bags, slot_scale
        self.scene_seed, self.scenes_drawn, self.scene_pool = scene_seed, 0, []
        tokenizer = model.tokenizer
        vocab = tokenizer.get_vocab()
        # Object words, and the single tokens the bare prompts are built from and the cuts look for.
        missing = sorted({w for obj in self.OBJECTS for w in obj} - set(vocab))
        missing += [t for t in ('Regions', ',', '<region>', '<p>', '</p>', '<roi>') if t not in vocab]
        if expressions == 'world':  # bare prompts look the expression's words up one by one
            phrases = [words for _, _, words in POSITIONS.values()] + list(RELATIONS)
            missing += sorted({w for phrase in phrases for w in phrase.split()} - set(vocab))
        if missing:
            raise ValueError(f'the tokenizer ({tokenizer.name_or_path}) lacks the tokens {missing}: '
                             'use the tokenizer tools/run_main_job.py writes beside the world')
        self.word_ids = torch.tensor([[vocab[w] for w in obj] for obj in self.OBJECTS])
        self.vocab = vocab
        self.proxy_ids = torch.tensor(model.prompt_builder.token_ids.proxy)

    def _randint(self, n: int) -> int:
        return int(torch.randint(n, (1, ), generator=self.gen))

    def _draw(self, entries: int = 0):
        """(objects of the regions, asked region, phrase words): 2 to max_regions regions, or ``entries``;
        with ``expressions='world'``, a scene's objects and one of its expressions."""
        if self.expressions == 'world':
            return self._draw_scene()
        n = entries or 2 + self._randint(self.max_regions - 1)
        objects = torch.randperm(len(self.OBJECTS), generator=self.gen)[:n].tolist()
        asked = self._randint(n)
        size, colour, shape = self.OBJECTS[objects[asked]]
        # As the world's expressions: colour and shape, the size only when they are not enough.
        others = [self.OBJECTS[o] for k, o in enumerate(objects) if k != asked]
        ambiguous = any(c == colour and s == shape for _, c, s in others)
        return objects, asked, ([size] if ambiguous else []) + [colour, shape]

    def _draw_scene(self):
        # Drawing a scene and its expressions costs as much as the LLM's step on its prompt: after
        # SCENE_POOL fresh scenes, prompts reuse them (in a new region order).
        if len(self.scene_pool) == self.SCENE_POOL:
            scene, expressions = self.scene_pool[self._randint(self.SCENE_POOL)]
        else:
            while True:  # a scene whose objects cannot be told apart has no expression: draw another
                self.scenes_drawn += 1
                scene, _ = sample_scene(self.scene_seed, 'train', self.scenes_drawn, self.scenes_drawn)
                expressions = referring_expressions(scene, np.random.default_rng([self.scene_seed, self.scenes_drawn]))
                if expressions:
                    break
            self.scene_pool.append((scene, expressions))
        order = torch.randperm(len(scene.objects), generator=self.gen).tolist()
        objects = [self.OBJECTS.index((scene.objects[i].size, scene.objects[i].colour, scene.objects[i].shape))
                   for i in order]
        targets = sorted(expressions)
        target = targets[self._randint(len(targets))]
        sentences = expressions[target]
        words = sentences[self._randint(len(sentences))].split()
        return objects, order.index(target), words[1:] if words[0] == 'the' else words

    def _sample(self):
        """(conversation, objects of the regions, asked region): REC, or with ``describe`` a region caption."""
        objects, asked, words = self._draw()
        if torch.rand((), generator=self.gen) < self.describe:
            templates = TABLE9['region_caption']
            question = templates[self._randint(len(templates))].replace('<region>', '<box0>')
            reply = 'a ' + ' '.join(self.OBJECTS[objects[asked]])
        else:
            templates = TABLE9['rec']
            question = templates[self._randint(len(templates))].format(expression=' '.join(['the'] + words))
            reply = '<roi><box0></roi>'
        return [dict(role='user', content=question), dict(role='assistant', content=reply)], objects, asked

    def _slot_bags(self, objects) -> torch.Tensor:
        """(n, D): the word bags of a prompt's region slots, each scaled by its own factor in [0.5, slot_scale].

        Stage 2's region tokens grow to several times a bag's norm, and an LLM that only met bags of one norm
        stops pointing at them (the slot's norm drowns what the slot took from its ``<rK>``).
        """
        bags = self._bags(objects)
        if self.slot_scale == 1:
            return bags
        return bags * (0.5 + (self.slot_scale - 0.5) * torch.rand((len(bags), 1), generator=self.gen))

    def _bags(self, objects) -> torch.Tensor:
        """(n, D): each object's word bag, the sum of its words' embeddings, plus noise."""
        bags = self.model.llm.get_input_embeddings()(self.word_ids[objects]).sum(1)
        noise = torch.randn(bags.shape, generator=self.gen)
        return bags + self.slot_noise * bags.norm(dim=-1, keepdim=True) / bags.shape[-1]**0.5 * noise

    def batch(self, batch_size: int):
        """Padded prompts (``GromaPromptBuilder.pad``) and their input embeddings (B, L, D)."""
        builder = self.model.prompt_builder
        prompts, objects = [], []
        for _ in range(batch_size):
            conversation, objs, asked = self._sample()
            prompts.append(builder(conversation, len(objs), {0: asked}))
            objects.append(torch.tensor(objs))
        batch = builder.pad(prompts, padding_side='right')
        embeds = self.model.llm.get_input_embeddings()(batch['input_ids']) * (~batch['image_mask'])[..., None]
        slots = torch.cat([self._slot_bags(objs)[ids] for objs, ids in zip(objects, batch['region_slot_ids'])])
        embeds = embeds.masked_scatter(batch['region_mask'][..., None], slots)
        if self.image_noise:
            embeds = embeds + batch['image_mask'][..., None] * self._image_noise(embeds.shape, slots)
        if self.image_bags:
            embeds = self._put_image_bags(embeds, batch['image_mask'], objects)
        return batch, embeds

    def _put_image_bags(self, embeds: torch.Tensor, image_mask: torch.Tensor, objects) -> torch.Tensor:
        """Put ``image_bags`` of each prompt's image slots to its own objects' word bags, scaled ×0.5 to ×5.

        Image tokens show the very objects the region list holds, and an LLM that only met noise there is
        thrown by them: a stage-2 model's REC with word-bag region tokens was 60 % with its trained image
        tokens (5× a bag's norm) and 87 % with zero or random ones.
        """
        embeds = embeds.clone()
        for row, objs in enumerate(objects):
            slots = image_mask[row].nonzero()[:, 0]
            chosen = slots[torch.randperm(len(slots), generator=self.gen)[:round(self.image_bags * len(slots))]]
            picks = torch.randint(len(objs), (len(chosen), ), generator=self.gen)
            scale = 0.5 + 4.5 * torch.rand((len(chosen), 1), generator=self.gen)
            embeds[row, chosen] = self._bags(objs[picks]) * scale
        return embeds

    def _image_noise(self, shape, slots: torch.Tensor) -> torch.Tensor:
        """(B, L, D) random vectors, each prompt's of one norm drawn in [0, image_noise × a slot's norm]."""
        noise = torch.nn.functional.normalize(torch.randn(shape, generator=self.gen), dim=-1)
        scale = torch.rand((shape[0], 1, 1), generator=self.gen) * self.image_noise * slots.norm(dim=-1).mean()
        return noise * scale

    def prompt_loss(self, batch_size: int, cut: str):
        """Reply loss and ``<rK>`` accuracy on Groma prompts; ``cut``: 'full', 'short' (from ``Regions:``
        on) or 'mixed' (from a random place of the intro on). The first (BOS) token always stays."""
        batch, embeds = self.batch(batch_size)
        start = int((batch['input_ids'][0] == self.vocab['Regions']).nonzero()[0])
        column = {'full': 0, 'short': start, 'mixed': self._randint(start + 1)}[cut]
        keep = (lambda t: torch.cat([t[:, :1], t[:, column:]], 1)) if column > 1 else (lambda t: t)
        # Whole prompts share the system line and the intro up to the image slots: run once per batch.
        shared = shared_prefix_length(batch['input_ids'], batch['image_mask'], batch['region_mask']) if column == 0 else 0
        logits, targets = reply_logits(self.model.llm, keep(embeds), keep(batch['attention_mask']),
                                       keep(batch['labels']), shared)
        return token_cross_entropy(logits, targets), proxy_accuracy(logits.detach(), targets, self.proxy_ids)

    def bare_loss(self, batch_size: int, entries: int = 0):
        """Loss and accuracy of the ``<rK>`` after ``<s><r0><region>,…<p>phrase</p><roi>`` (left-padded)."""
        tokenizer, vocab = self.model.tokenizer, self.vocab
        sequences, slots, targets = [], [], []
        for _ in range(batch_size):
            objects, asked, words = self._draw(entries)
            ids = [tokenizer.bos_token_id]
            for k in range(len(objects)):
                ids += [int(self.proxy_ids[k]), vocab['<region>'], vocab[',']]
            sequences.append(ids + [vocab['<p>'], *[vocab[w] for w in words], vocab['</p>'], vocab['<roi>']])
            slots.append(self._slot_bags(objects))
            targets.append(int(self.proxy_ids[asked]))
        length = max(map(len, sequences))
        ids = torch.tensor([[tokenizer.pad_token_id] * (length - len(s)) + s for s in sequences])
        mask = torch.tensor([[0] * (length - len(s)) + [1] * len(s) for s in sequences])
        llm = self.model.llm
        embeds = llm.get_input_embeddings()(ids).masked_scatter((ids == vocab['<region>'])[..., None], torch.cat(slots))
        logits = llm(inputs_embeds=embeds, attention_mask=mask, logits_to_keep=1).logits[:, -1]
        targets = torch.tensor(targets)
        return F.cross_entropy(logits, targets), (logits.argmax(-1) == targets).float().mean().item()


def proxy_accuracy(logits: torch.Tensor, targets: torch.Tensor, proxy_ids: torch.Tensor) -> float:
    """Share of the ``<rK>`` targets predicted right (teacher forcing); logits (N, V), targets (N, )."""
    is_proxy = torch.isin(targets, proxy_ids)
    return (logits[is_proxy].argmax(-1) == targets[is_proxy]).float().mean().item()
