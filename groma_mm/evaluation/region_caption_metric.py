"""Region captioning: METEOR and CIDEr (paper Tab. 4), plus BLEU-4 and ROUGE-L.

pycocoevalcap's scorers are called directly on PTB-tokenized text (lower-cased, punctuation removed),
exactly as its ``COCOEvalCap.evaluate()`` does, but without SPICE, which downloads Stanford models at run
time and so fails offline. CIDEr is CIDEr-D with document frequencies from the evaluated references, so
it depends on the whole set; that is one more reason rows are de-duplicated before scoring.

The tokenizer and METEOR run Java (the jars ship inside pycocoevalcap). Without a ``java`` executable the
metric fails before scoring with a message saying how to install one.

Reads from each sample (see ``sample_fields``): ``sample_idx``, ``pred_text`` (str), ``gt_captions``
(non-empty list of str), optional ``img_id``.
"""
import shutil
from typing import Any, Dict, Sequence, Tuple

from groma_mm.registry import METRICS
from .per_sample_metric import PerSampleMetric, SampleKey, row_key
from .sample_fields import get_field, read_text, read_texts

JAVA_HELP = ('RegionCaptionMetric needs Java for PTB tokenization and METEOR, but no `java` executable is '
             'on PATH. Install a runtime, e.g. `apt-get install -y default-jre-headless` (Debian/Ubuntu) or '
             '`conda install -c conda-forge openjdk`, then run again.')


def require_java() -> None:
    """Raise a ``RuntimeError`` with install instructions when Java is missing."""
    if shutil.which('java') is None:
        raise RuntimeError(JAVA_HELP)


@METRICS.register_module()
class RegionCaptionMetric(PerSampleMetric):
    """Corpus-level ``METEOR``, ``CIDEr``, ``BLEU-4``, ``ROUGE-L`` of ``pred_text`` against ``gt_captions``.

    Values are pycocoevalcap's scores × 100, as the paper reports them (METEOR 16.8, CIDEr 107.3);
    -1.0 when there are no samples. Per-sample scores (for prediction dumps) are the scorers' own
    per-caption values, unscaled.
    """
    default_prefix = 'region_caption'

    def process_sample(self, sample: Any, sample_idx: int) -> dict:
        return dict(img_id=get_field(sample, 'img_id', default=None),
                    gt_captions=read_texts(sample, 'gt_captions', sample_idx),
                    pred_text=read_text(sample, 'pred_text', sample_idx))

    def score(self, rows: Sequence[dict]) -> Tuple[Dict[str, float], Dict[SampleKey, dict]]:
        names = ('METEOR', 'CIDEr', 'BLEU-4', 'ROUGE-L')
        if not rows:
            return {name: -1.0 for name in names}, {}
        require_java()
        # Imported here: importing the package must not need Java or pycocoevalcap's jars.
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.meteor.meteor import Meteor
        from pycocoevalcap.rouge.rouge import Rouge
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

        keys = [row_key(row) for row in rows]
        ids = range(len(rows))  # the scorers want plain, orderable ids
        # One tokenizer run (one JVM start) for references and predictions: the prediction goes last.
        tokenized = PTBTokenizer().tokenize(
            {i: [{'caption': c} for c in (*row['gt_captions'], row['pred_text'])] for i, row in zip(ids, rows)})
        for i, row in zip(ids, rows):
            # The tokenizer pairs output lines with inputs by position; a lost line would shift every caption.
            if len(tokenized.get(i, ())) != len(row['gt_captions']) + 1:
                raise RuntimeError(f'PTB tokenization lost lines at sample_idx={row["sample_idx"]}')
        refs = {i: tokenized[i][:-1] for i in ids}
        preds = {i: tokenized[i][-1:] for i in ids}

        bleu, bleu_per = Bleu(4).compute_score(refs, preds, verbose=0)
        meteor_scorer = Meteor()
        try:
            meteor, meteor_per = meteor_scorer.compute_score(refs, preds)
        finally:
            del meteor_scorer  # stops its Java process now, not at interpreter exit
        rouge, rouge_per = Rouge().compute_score(refs, preds)
        cider, cider_per = Cider().compute_score(refs, preds)

        metrics = {'METEOR': meteor * 100, 'CIDEr': cider * 100, 'BLEU-4': bleu[3] * 100, 'ROUGE-L': rouge * 100}
        per_sample = {
            key: {'METEOR': float(meteor_per[i]), 'CIDEr': float(cider_per[i]), 'BLEU-4': float(bleu_per[3][i]),
                  'ROUGE-L': float(rouge_per[i])}
            for i, key in enumerate(keys)
        }
        return {k: float(v) for k, v in metrics.items()}, per_sample
