"""A tiny Groma overfits a handful of REC and referring examples and then answers them correctly."""
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.model import BaseModule
from mmengine.structures import InstanceData

from groma_mm.models.proposers import to_input_frame
from groma_mm.registry import MODELS
from groma_mm.testing.paths import REPO_ROOT

COLORS = {'red': (220, 30, 30), 'green': (30, 200, 30), 'blue': (30, 30, 220), 'yellow': (230, 220, 30)}
SLOTS = [(8, 8), (60, 16), (20, 64)]


@MODELS.register_module(force=True)
class OracleProposer(BaseModule):
    """Proposes the image's object boxes (a stand-in for a trained proposer; any ``propose`` works)."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = MODELS.build(backbone)

    def propose(self, encoder_feats, data_samples):
        return [
            InstanceData(bboxes=to_input_frame(s.oracle_bboxes, s), scores=torch.linspace(0.9, 0.5, len(s.oracle_bboxes)))
            for s in data_samples
        ]


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = np.full((112, 112, 3), 128, np.uint8)
        names = list(rng.choice(list(COLORS), 3, replace=False))
        boxes = []
        for name, (x, y) in zip(names, SLOTS):
            w = int(rng.integers(24, 40))
            img[y:y + w, x:x + w] = COLORS[name]
            boxes.append([x, y, x + w, y + w])
        out.append((img, names, boxes))
    return out


def _sample(img, conversation, boxes, oracle):
    s = DetDataSample(metainfo=dict(img_shape=(112, 112), ori_shape=(112, 112), scale_factor=(1.0, 1.0),
                                    conversation=conversation, img_path='synthetic', sample_idx=0))
    s.bboxes = torch.tensor(boxes, dtype=torch.float).reshape(-1, 4)
    s.oracle_bboxes = torch.tensor(oracle, dtype=torch.float)
    return torch.from_numpy(img.transpose(2, 0, 1).copy()), s


def _rec(name):
    return f'Locate <p>the {name} square</p> in the image.'


@pytest.fixture(scope='module')
def trained():
    images = _images(4)
    inputs, samples = [], []
    for i, (img, names, boxes) in enumerate(images):
        # The target's place in the region list changes from image to image, so a fixed <rK> cannot win.
        rec, ref = i % 3, (i + 1) % 3
        for conversation, box in (
            ([dict(role='user', content=_rec(names[rec])),
              dict(role='assistant', content=f'<p>the {names[rec]} square</p> <roi><box0></roi>')], boxes[rec]),
            ([dict(role='user', content='What is <box0>?'),
              dict(role='assistant', content=f'a {names[ref]} square')], boxes[ref]),
        ):
            x, s = _sample(img, conversation, [box], boxes)
            inputs.append(x)
            samples.append(s)

    cfg = Config.fromfile(f'{REPO_ROOT}/configs/_base_/models/groma_tiny.py')
    cfg.model.proposer = dict(type='OracleProposer', backbone=cfg.model.proposer.backbone)
    cfg.model.tokenizer = dict(type='TinyWordTokenizer', extra_words=['square'])
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3, weight_decay=0)
    losses = []
    for _ in range(200):
        model.train()
        batch = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)
        loss = model(**batch, mode='loss')['loss']
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return model, images, losses


def test_loss_falls_to_near_zero(trained):
    _, _, losses = trained
    assert losses[0] > 5 and losses[-1] < 0.1, losses[::20]


def test_answers_rec_with_the_right_region_and_referring_with_the_right_caption(trained):
    model, images, _ = trained
    for i, (img, names, boxes) in enumerate(images):
        rec, ref = i % 3, (i + 1) % 3
        x1, s1 = _sample(img, [dict(role='user', content=_rec(names[rec]))], [], boxes)
        x2, s2 = _sample(img, [dict(role='user', content='What is <box0>?')], [boxes[ref]], boxes)
        batch = model.data_preprocessor(dict(inputs=[x1, x2], data_samples=[s1, s2]), False)
        grounded, referred = model(**batch, mode='predict')
        assert grounded.pred_text == f'the {names[rec]} square', grounded.raw_answer
        assert grounded.pred_bboxes.tolist() == [boxes[rec]], grounded.raw_answer
        assert grounded.pred_answer.spans[0].phrase == f'the {names[rec]} square'
        assert referred.pred_text == f'a {names[ref]} square', referred.raw_answer
