import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from groma_mm.registry import MODELS
from groma_mm.testing.paths import TINY_PROPOSER_CONFIG

IMG = 112


@pytest.fixture(scope='module')
def proposer():
    torch.manual_seed(0)
    cfg = Config.fromfile(TINY_PROPOSER_CONFIG)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def _samples(boxes_per_image, ori=(224, 168)):
    samples = []
    for boxes in boxes_per_image:
        s = DetDataSample(metainfo=dict(img_shape=(IMG, IMG), batch_input_shape=(IMG, IMG), ori_shape=ori,
                                        scale_factor=(IMG / ori[1], IMG / ori[0]), pad_shape=(IMG, IMG)))
        gt = InstanceData()
        gt.bboxes = torch.tensor(boxes, dtype=torch.float).reshape(-1, 4)
        gt.labels = torch.zeros(len(gt.bboxes), dtype=torch.long)
        s.gt_instances = gt
        samples.append(s)
    return samples


def test_pyramid_shapes_from_the_encoder_layers(proposer):
    feats = proposer.backbone(torch.randn(2, 3, IMG, IMG))
    assert [tuple(f.shape) for f in feats] == [(2, 64, 8, 8)] * 4
    levels = proposer.neck(feats)
    assert [tuple(f.shape) for f in levels] == [(2, 256, 16, 16), (2, 256, 8, 8), (2, 256, 4, 4), (2, 256, 2, 2)]


def test_losses_are_finite_and_positive_with_boxes_and_with_an_empty_image(proposer):
    proposer.train()
    samples = _samples([[[10, 10, 60, 50], [30, 40, 100, 100]], []])
    losses = proposer.loss(torch.randn(2, 3, IMG, IMG), samples)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    assert losses['loss_cls'] > 0 and losses['loss_bbox'] > 0 and losses['loss_iou'] > 0
    total.backward()
    grads = [p.grad for p in proposer.bbox_head.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    proposer.zero_grad()


def test_a_batch_of_images_without_any_box_still_trains(proposer):
    proposer.train()
    losses = proposer.loss(torch.randn(2, 3, IMG, IMG), _samples([[], []]))
    assert torch.isfinite(sum(v for k, v in losses.items() if 'loss' in k))


def test_predict_gives_at_most_100_sorted_boxes_inside_the_original_image(proposer):
    proposer.eval()
    proposer.post_processor.score_thr = 0.0  # a random model scores low; keep everything to test shapes
    try:
        with torch.no_grad():
            out = proposer.predict(torch.randn(2, 3, IMG, IMG), _samples([[], []]))
    finally:
        proposer.post_processor.score_thr = 0.15
    for s in out:
        pred = s.pred_instances
        assert 0 < len(pred.bboxes) <= 100
        assert torch.all(pred.scores[:-1] >= pred.scores[1:])
        h, w = s.ori_shape
        assert pred.bboxes[:, 0::2].min() >= 0 and pred.bboxes[:, 0::2].max() <= w + 1e-3
        assert pred.bboxes[:, 1::2].min() >= 0 and pred.bboxes[:, 1::2].max() <= h + 1e-3


def test_user_boxes_survive_and_come_back_in_original_pixels(proposer):
    proposer.eval()
    samples = _samples([[], []])
    user = torch.tensor([[20.0, 30.0, 90.0, 120.0], [22.0, 31.0, 91.0, 119.0]])
    samples[0].user_bboxes = user
    with torch.no_grad():
        out = proposer.predict(torch.randn(2, 3, IMG, IMG), samples)
    pred = out[0].pred_instances
    torch.testing.assert_close(pred.bboxes[:2], user, atol=1e-4, rtol=0)
    assert pred.is_extra[:2].all() and not pred.is_extra[2:].any()
    assert not out[1].pred_instances.is_extra.any()


def test_predict_from_precomputed_encoder_features_equals_predict(proposer):
    proposer.eval()
    img = torch.randn(1, 3, IMG, IMG)
    proposer.post_processor.score_thr = 0.0
    try:
        with torch.no_grad():
            direct = proposer.predict(img, _samples([[]]))[0].pred_instances
            feats = proposer.backbone(img)
            reused = proposer.predict_from_encoder_feats(feats, _samples([[]]))[0].pred_instances
    finally:
        proposer.post_processor.score_thr = 0.15
    torch.testing.assert_close(direct.bboxes, reused.bboxes)
    torch.testing.assert_close(direct.scores, reused.scores)


def test_more_than_one_class_is_rejected():
    cfg = Config.fromfile(TINY_PROPOSER_CONFIG)
    cfg.model.bbox_head.num_classes = 3
    with pytest.raises(ValueError, match='num_classes must be 1'):
        MODELS.build(cfg.model)
