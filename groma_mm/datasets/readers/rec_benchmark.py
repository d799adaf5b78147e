"""The eight REC test splits of the paper's Table 2 as one dataset, from any of the three public layouts.

Every split is a :class:`~groma_mm.datasets.readers.RefCOCODataset` in ``test_mode`` whose samples carry the
split label ``'{dataset}_{split}'`` (``'refcoco+_testA'``) that ``RECMetric`` reports per split. Layouts
(file names below ``ann_dir``):

============  =======================================  =================================================
``layout``    files                                     where they come from
============  =======================================  =================================================
'official'    ``refcoco_val.json``, ``refcoco+_testA``  the official Groma release's REC test files (one
              ``.json``, ``refcocog_test.json``, …      COCO json per split, the expression in each image
                                                        entry's ``caption``)
'mdetr'       ``final_refcoco_val.json``, …             MDETR's pre-processed annotations (same layout)
'refer'       ``refcoco/refs(unc).p``,                  lichengunc/refer pickles, each beside its
              ``refcocog/refs(umd).p``                  ``instances.json``; the split is picked inside
============  =======================================  =================================================
"""
import os.path as osp
from typing import Optional, Sequence

from mmengine.dataset import ConcatDataset

from groma_mm.registry import DATASETS

# Table 2's columns, in its order.
TABLE2_SPLITS = ('refcoco_val', 'refcoco_testA', 'refcoco_testB', 'refcoco+_val', 'refcoco+_testA', 'refcoco+_testB',
                 'refcocog_val', 'refcocog_test')
SPLIT_BY = {'refcoco': 'unc', 'refcoco+': 'unc', 'refcocog': 'umd'}
LAYOUTS = {
    'official': '{name}_{split}.json',
    'mdetr': 'final_{name}_{split}.json',
    'refer': '{name}/refs({split_by}).p',
}


def split_ann_file(layout: str, label: str) -> str:
    """The annotation file of split ``label`` ('refcocog_val') in ``layout``, relative to the folder."""
    if layout not in LAYOUTS:
        raise ValueError(f'unknown REC layout {layout!r}; choose one of {sorted(LAYOUTS)}')
    name, split = label.rsplit('_', 1)
    if name not in SPLIT_BY:
        raise ValueError(f'unknown REC split {label!r}; splits look like {TABLE2_SPLITS[0]!r}')
    return LAYOUTS[layout].format(name=name, split=split, split_by=SPLIT_BY[name])


@DATASETS.register_module()
class RECBenchmarkDataset(ConcatDataset):
    """REC test splits concatenated, each labelled with its split (module docstring).

    Args:
        layout: 'official', 'mdetr' or 'refer'.
        ann_dir: the folder of the annotation files, below ``data_root`` unless absolute.
        splits: split labels to read (default: the eight of Table 2).
        data_root, data_prefix, pipeline: as for every reader, shared by the splits.
        **kwargs: more :class:`RefCOCODataset` arguments for every split (e.g. ``sentence_key``, ``templates``).
    """

    def __init__(self, layout: str = 'official', ann_dir: str = '', splits: Sequence[str] = TABLE2_SPLITS,
                 data_root: str = '', data_prefix: Optional[dict] = None, pipeline: Sequence[dict] = (),
                 **kwargs) -> None:
        datasets = []
        for label in splits:
            name, split = label.rsplit('_', 1)
            datasets.append(DATASETS.build(dict(
                type='RefCOCODataset', ann_file=osp.join(ann_dir, split_ann_file(layout, label)),
                data_root=data_root, data_prefix=dict(img='') if data_prefix is None else data_prefix,
                pipeline=list(pipeline), split=split if layout == 'refer' else None, dataset_name=name,
                test_mode=True, **kwargs)))
        super().__init__(datasets)
