"""Groma learns REC on a very small world, the main job's recipe in miniature: a stage-0 toy LLM
(tools/pretrain_toy_llm.py), then alignment with the LLM frozen (stage 2). REC on the training samples
beats chance by a clear margin, and falls to chance when the region tokens are shuffled against their
boxes: the answers come from what the region tokens carry, not from the image or the phrase alone."""
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample

from groma_mm.datasets.synthetic_world import COLOURS, SHAPES, SIZES
from groma_mm.registry import MODELS
from groma_mm.testing import GroundTruthProposer  # noqa: F401 (registers it)
from groma_mm.testing.paths import REPO_ROOT, load_tool
from groma_mm.testing.tiny_tokenizer import build_tiny_tokenizer
from groma_mm.utils import load_config, register_all_modules

STAGE0 = f'{REPO_ROOT}/configs/groma/groma_tiny_stage0-llm-pretrain_synthetic.py'
NAMES = ('red', 'green', 'blue', 'yellow')
OBJECTS = 3  # per image: REC chance is 1/3
IMAGES = 24
ALIGN_ITERS = 250


def _world():
    """REC samples: IMAGES images of three squares of different colours in a 3×3 grid, each asked for in turn."""
    rng = np.random.default_rng(0)
    world = []
    for i in range(IMAGES):
        img = np.full((112, 112, 3), 128, np.uint8)
        names, boxes = list(rng.choice(NAMES, OBJECTS, replace=False)), []
        for name, cell in zip(names, rng.choice(9, OBJECTS, replace=False)):
            side = int(rng.integers(20, 34))
            x = min(cell % 3 * 37 + int(rng.integers(0, 6)), 112 - side)
            y = min(cell // 3 * 37 + int(rng.integers(0, 6)), 112 - side)
            img[y:y + side, x:x + side] = COLOURS[name]
            boxes.append([x, y, x + side, y + side])
        world += [(f'world/{i}.png', img, names, boxes, target) for target in range(OBJECTS)]
    return world


def _sample(path, img, names, boxes, target, with_answer):
    conversation = [dict(role='user', content=f'Locate <p>the {names[target]} square</p> in the image.')]
    if with_answer:
        conversation.append(dict(role='assistant', content='<roi><box0></roi>'))
    sample = DetDataSample(metainfo=dict(img_shape=(112, 112), ori_shape=(112, 112), scale_factor=(1.0, 1.0),
                                         conversation=conversation, img_path=path, sample_idx=0))
    sample.bboxes = torch.tensor([boxes[target]] if with_answer else [], dtype=torch.float).reshape(-1, 4)
    return torch.from_numpy(img.transpose(2, 0, 1).copy()), sample


@pytest.fixture(scope='module')
def stage0_llm(tmp_path_factory):
    """Stage 0 as the main job runs it, shortened: the bare lookup over 3 word bags, then whole prompts."""
    root = tmp_path_factory.mktemp('stage0')
    tokenizer, out = str(root / 'tokenizer'), str(root / 'llm')
    build_tiny_tokenizer(extra_words=[*SHAPES, *COLOURS, *SIZES], save_dir=tokenizer)
    load_tool('tools/pretrain_toy_llm.py').main([
        STAGE0, '--out', out, '--phases', 'bare3:500', 'full:300', '--bare-share', '0.1', '--max-regions', str(OBJECTS), '--lr', '1e-3',
        '--log-every', '100', '--cfg-options', f'model.tokenizer.pretrained={tokenizer}'])
    return out


def _align_and_score(llm_dir: str, world, shuffle_tokens: bool) -> float:
    """Stage 2 (frozen LLM) on the world's REC samples, then the share answered with the target's box."""
    register_all_modules()
    cfg = load_config(STAGE0, {'model.tokenizer.pretrained': llm_dir})
    cfg.model.llm.update(pretrained=llm_dir, config=None, freeze_llm=True)
    cfg.model.proposer = dict(type='GroundTruthProposer', backbone=cfg.model.proposer.backbone,
                              boxes={path: boxes for path, _, _, boxes, _ in world})
    cfg.model.proposer_checkpoint = None
    cfg.model.shuffle_regions = True  # the target's <rK> changes from pass to pass: no index to memorize
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    if shuffle_tokens:
        encode = model.encode_regions
        model.encode_regions = lambda *args: [tokens[torch.randperm(len(tokens))] for tokens in encode(*args)]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3, weight_decay=0)
    rng = np.random.default_rng(1)
    model.train()
    for _ in range(ALIGN_ITERS):
        inputs, samples = zip(*[_sample(*world[k], with_answer=True) for k in rng.choice(len(world), 16)])
        batch = model.data_preprocessor(dict(inputs=list(inputs), data_samples=list(samples)), True)
        loss = model(**batch, mode='loss')['loss']
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    inputs, samples = zip(*[_sample(*item, with_answer=False) for item in world])
    with torch.no_grad():
        batch = model.data_preprocessor(dict(inputs=list(inputs), data_samples=list(samples)), False)
        answers = model(**batch, mode='predict')
    return float(np.mean([out.pred_bboxes.tolist()[:1] == [boxes[target]]
                          for (_, _, _, boxes, target), out in zip(world, answers)]))


def test_rec_on_training_samples_beats_chance_after_stage0_and_alignment(stage0_llm):
    accuracy = _align_and_score(stage0_llm, _world(), shuffle_tokens=False)
    # Chance is 1/3 (± 0.06 over the 72 samples): 0.5 is three of those above it. Measured 0.56 here (2 threads;
    # 0.33 with the tokens shuffled); a stage-0 LLM trained for longer reaches 1.0 on such a world.
    assert accuracy >= 0.5, accuracy


def test_rec_stays_at_chance_when_region_tokens_are_shuffled_against_their_boxes(stage0_llm):
    accuracy = _align_and_score(stage0_llm, _world(), shuffle_tokens=True)
    assert accuracy <= 0.45, accuracy
