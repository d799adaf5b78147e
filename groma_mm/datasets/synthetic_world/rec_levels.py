"""Reference levels for REC Acc@0.5 on a written synthetic world, to read a model's score against.

Most of the world's expressions add a position or a relation to the target's size, colour and shape
("the red circle left of the blue star"). The share whose attribute words alone single the target out is
the accuracy a model reaches that matches appearance perfectly and ignores layout; above it, a model
must also use where the regions are.
"""
import json
import os.path as osp
from typing import Dict

from mmengine.fileio import get

from groma_mm.datasets.readers.refcoco import load_plain_pickle
from .expressions import attribute_words_suffice, parse_expression
from .scene import Scene

REFS_FILE = 'refcoco/refs(unc).p'


def rec_reference_levels(world_dir: str, split: str = 'val') -> Dict[str, float]:
    """Over the REC expressions of ``split`` in the world written at ``world_dir``.

    Returns:
        dict(expressions=number of expressions, attribute_words_suffice=% of them whose size, colour and
        shape words alone name the target).

    Raises:
        ValueError: the split has no expressions, a ref names an image or object the scenes lack, or an
            expression is not in the world's grammar (the message names the file and the ref).
    """
    with open(osp.join(world_dir, 'scenes.json')) as f:
        scenes = {s['image_id']: Scene.from_dict(s) for s in json.load(f)}
    refs = load_plain_pickle(get(osp.join(world_dir, REFS_FILE)))
    total = suffice = 0
    for ref in refs:
        if ref['split'] != split:
            continue
        scene = scenes.get(ref['image_id'])
        targets = [i for i, obj in enumerate(scene.objects) if obj.ann_id == ref['ann_id']] if scene else []
        if len(targets) != 1:
            raise ValueError(f'{osp.join(world_dir, REFS_FILE)}: ref {ref["ref_id"]} names image '
                             f'{ref["image_id"]} / annotation {ref["ann_id"]}, which scenes.json does not hold')
        for sentence in ref['sentences']:
            try:
                description = parse_expression(sentence['sent'])
            except ValueError as err:
                raise ValueError(f'{osp.join(world_dir, REFS_FILE)}: ref {ref["ref_id"]}: {err}') from None
            total += 1
            suffice += attribute_words_suffice(description, scene, targets[0])
    if not total:
        raise ValueError(f'{osp.join(world_dir, REFS_FILE)}: no REC expressions in split {split!r}')
    return dict(expressions=total, attribute_words_suffice=100.0 * suffice / total)
