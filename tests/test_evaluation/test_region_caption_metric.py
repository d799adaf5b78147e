"""RegionCaptionMetric: pycocoevalcap scorers on PTB-tokenized text (Java), hand-checked values."""
import shutil

import pytest

from groma_mm.evaluation import RegionCaptionMetric
from groma_mm.evaluation import region_caption_metric


def caption(idx, pred, refs):
    return dict(sample_idx=idx, img_id=idx, pred_text=pred, gt_captions=refs)


@pytest.mark.skipif(shutil.which('java') is None, reason='Java is not installed (apt-get install default-jre-headless)')
def test_scores_with_java():
    metric = RegionCaptionMetric()
    metric.process(None, [
        caption(0, 'A man riding a horse.', ['a man riding a horse']),  # equal after PTB tokenization
        caption(1, 'a dog', ['a big dog', 'a small dog']),
        caption(2, '', ['the red car']),                                # empty answer
    ])
    metric.process(None, [caption(0, 'A man riding a horse.', ['a man riding a horse'])])  # sampler padding
    metrics = metric.evaluate(3)
    per = metric.sample_scores
    assert set(metrics) == {'region_caption/METEOR', 'region_caption/CIDEr', 'region_caption/BLEU-4',
                            'region_caption/ROUGE-L'}
    # Exact match: METEOR 1, BLEU-4 1, ROUGE-L 1, and CIDEr-D 10 (cosine 1 for n = 1..4, no length penalty).
    assert per['', 0]['METEOR'] == pytest.approx(1.0)
    assert per['', 0]['BLEU-4'] == pytest.approx(1.0, abs=1e-6)
    assert per['', 0]['ROUGE-L'] == pytest.approx(1.0)
    assert per['', 0]['CIDEr'] == pytest.approx(10.0)
    # ROUGE-L 'a dog' vs 'a big dog': LCS 2, P = 1, R = 2/3, F_beta(1.2) = 2.44 P R / (R + 1.44 P).
    rouge_1 = 2.44 * (2 / 3) / (2 / 3 + 1.44)
    assert per['', 1]['ROUGE-L'] == pytest.approx(rouge_1)
    assert all(v == 0.0 for v in per['', 2].values())
    # ROUGE-L and CIDEr are means over the 3 unique samples (the padding repeat of sample 0 counts once);
    # METEOR is Java's corpus score from summed statistics.
    assert metrics['region_caption/ROUGE-L'] == pytest.approx((1 + rouge_1 + 0) / 3 * 100)
    assert metrics['region_caption/CIDEr'] == pytest.approx(sum(p['CIDEr'] for p in per.values()) / 3 * 100)
    assert 0 < metrics['region_caption/METEOR'] < 100


def test_missing_java_says_how_to_install(monkeypatch):
    monkeypatch.setattr(region_caption_metric.shutil, 'which', lambda name: None)
    metric = RegionCaptionMetric()
    metric.process(None, [caption(0, 'a dog', ['a dog'])])
    with pytest.raises(RuntimeError, match='apt-get install -y default-jre-headless'):
        metric.evaluate(1)


def test_no_samples_is_undefined_and_needs_no_java(monkeypatch):
    monkeypatch.setattr(region_caption_metric.shutil, 'which', lambda name: None)
    assert set(RegionCaptionMetric().evaluate(0).values()) == {-1.0}


@pytest.mark.parametrize('sample, message', [
    (dict(sample_idx=2, pred_text='a dog'), "sample_idx=2 has no field 'gt_captions'"),
    (dict(sample_idx=2, pred_text='a dog', gt_captions=[]), 'non-empty list of str'),
    (dict(sample_idx=2, pred_text='a dog', gt_captions='a dog'), 'non-empty list of str'),
    (dict(sample_idx=2, pred_text=None, gt_captions=['a dog']), "'pred_text' must be a str"),
])
def test_bad_samples_fail_at_process(sample, message):
    with pytest.raises((KeyError, ValueError, TypeError), match=message):
        RegionCaptionMetric().process(None, [sample])
