"""Stage-1 training of OfficialGromaProposer: real DETR losses, and the objectness head follows the source."""
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from groma_mm.converters.official_proposer import official_proposer_cfg
from groma_mm.registry import MODELS

IMG = 112
NUM_DECODER_LAYERS = 2
TINY_HF_CONFIG = dict(
    vis_encoder_cfg=dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, mlp_ratio=4, patch_size=14,
                         layer_norm_eps=1e-6, layerscale_value=1.0, hidden_act='gelu', use_swiglu_ffn=False),
    ddetr_cfg=dict(d_model=32, encoder_layers=1, decoder_layers=NUM_DECODER_LAYERS, encoder_attention_heads=4,
                   decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, encoder_n_points=4,
                   decoder_n_points=4, num_queries=20, two_stage_num_proposals=20, two_stage=True, with_box_refine=True,
                   num_feature_levels=1, activation_function='relu', position_embedding_type='sine', dropout=0.0,
                   id2label={'0': 'LABEL_0'}),
    vis_output_layer=-1)


def build(levels=1):
    torch.manual_seed(0)
    hf_config = dict(TINY_HF_CONFIG, ddetr_cfg=dict(TINY_HF_CONFIG['ddetr_cfg'], num_feature_levels=levels))
    model = MODELS.build(official_proposer_cfg(hf_config, img_size=IMG))
    model.init_weights()
    return model.train()


def samples(sources):
    boxes = [[[10., 12., 60., 50.], [40., 30., 100., 104.]], [[20., 20., 90., 70.]]]
    out = []
    for i, source in enumerate(sources):
        meta = dict(img_shape=(IMG, IMG), batch_input_shape=(IMG, IMG), ori_shape=(IMG, IMG), scale_factor=(1., 1.))
        if source is not None:
            meta['source'] = source
        gt = InstanceData(bboxes=torch.tensor(boxes[i % 2]))
        gt.labels = torch.zeros(len(gt.bboxes), dtype=torch.long)
        out.append(DetDataSample(metainfo=meta, gt_instances=gt))
    return out


def total_loss(losses):
    return sum(v for k, v in losses.items() if 'loss' in k)


def head_grads(model):
    head = model.bbox_head

    def norm(branches):
        return sum(p.grad.abs().sum().item() for b in branches for p in b.parameters() if p.grad is not None)

    return dict(coco=norm(head.cls_branches[:NUM_DECODER_LAYERS]), sa1b=norm(head.sa1b_cls_branches),
                encoder=norm(head.cls_branches[NUM_DECODER_LAYERS:]))


@pytest.mark.parametrize('levels', [1, 4])
def test_a_few_iterations_lower_the_loss(levels):
    model = build(levels)
    images = torch.randn(2, 3, IMG, IMG)
    batch = samples(['coco', 'sa1b'])
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    history = []
    for _ in range(8):
        losses = model.loss(images, batch)
        loss = total_loss(losses)
        assert torch.isfinite(loss)
        optim.zero_grad()
        loss.backward()
        optim.step()
        history.append(loss.item())
    # losses of every decoder layer and of the encoder proposals
    assert {'loss_cls', 'loss_bbox', 'loss_iou', 'd0.loss_cls', 'enc_loss_cls', 'enc_loss_iou'} <= set(losses)
    assert history[-1] < 0.8 * history[0], history
    assert all(p.grad is None for p in model.backbone.parameters())  # the encoder stays frozen


@pytest.mark.parametrize('sources, trained', [
    (['coco', 'objects365'], {'coco'}),
    ([None, None], {'coco'}),
    (['sa1b', 'sa1b'], {'sa1b'}),
    (['sa1b', 'coco'], {'coco', 'sa1b'}),
])
def test_each_image_trains_the_objectness_head_of_its_source(sources, trained):
    model = build()
    total_loss(model.loss(torch.randn(2, 3, IMG, IMG), samples(sources))).backward()
    grads = head_grads(model)
    assert grads['encoder'] > 0
    for head in ('coco', 'sa1b'):
        assert (grads[head] > 0) == (head in trained), grads


def test_inference_fuses_the_two_heads():
    model = build().eval()
    with torch.no_grad():
        feats = model.backbone(torch.randn(1, 3, IMG, IMG))
        (proposals, ) = model.propose(feats, samples([None])[:1])
        head_inputs = model.forward_transformer(model.neck(feats), samples([None])[:1])
        logits, _ = model.bbox_head(**head_inputs)
    expected = logits['coco'][-1, 0, :, 0].sigmoid()**0.4 * logits['sa1b'][-1, 0, :, 0].sigmoid()**0.6
    torch.testing.assert_close(proposals.scores, expected)
    assert proposals.bboxes.shape == (20, 4)


def test_predict_returns_post_processed_proposals_in_original_pixels():
    model = build().eval()
    model.post_processor.score_thr = 0.0  # random weights score low
    batch = samples([None, None])
    for s in batch:
        s.set_metainfo(dict(ori_shape=(224, 224), scale_factor=(0.5, 0.5)))
    images = torch.randn(2, 3, IMG, IMG)
    with torch.no_grad():
        proposals = model.propose(model.backbone(images), batch)
        out = model.predict(images, batch)
    for s, props in zip(out, proposals):
        pred = s.pred_instances
        assert 0 < len(pred.bboxes) <= len(props.bboxes)
        assert torch.all(pred.scores[:-1] >= pred.scores[1:])
        # each region is a proposal, scaled from the 112-px input back to the 224-px original
        match = (pred.bboxes[:, None] * 0.5 - props.bboxes[None]).abs().amax(-1).min(1).values
        assert match.max() < 1e-4
