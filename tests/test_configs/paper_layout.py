"""The paper configs' ``data/`` layout (configs/_base_/datasets/groma_paper_mix.py), filled from the synthetic
world: every source's annotation file under its real name, in its public format, images linked where the
source expects them. With a tiny LLM folder, a paper config then builds and runs on CPU."""
import json
import os
import shutil

def _link(target, link) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link)


def _copy(src, dst) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)


def _grit_records(instances: dict) -> list:
    """GRIT-20m records (normalized ``[start, end, x1, y1, x2, y2, score]`` spans) of the world's objects."""
    names = {c['id']: c['name'] for c in instances['categories']}
    records = []
    for img in instances['images']:
        anns = [a for a in instances['annotations'] if a['image_id'] == img['id']]
        if not anns:
            continue
        name = names[anns[0]['category_id']]
        caption = f'a picture of a {name}'
        start = caption.index(name)
        w, h = img['width'], img['height']
        refs = [[start, start + len(name), a['bbox'][0] / w, a['bbox'][1] / h, (a['bbox'][0] + a['bbox'][2]) / w,
                 (a['bbox'][1] + a['bbox'][3]) / h, 0.9] for a in anns if a['category_id'] == anns[0]['category_id']]
        records.append(dict(key=os.path.splitext(img['file_name'])[0], caption=caption, width=w, height=h,
                            ref_exps=refs))
    return records


def build_paper_layout(world, root) -> None:
    """``root/data/...`` as the paper mix expects it, from the synthetic world folder ``world``."""
    data = root / 'data'
    images = world / 'images'
    for folder in ('coco/train2014', 'coco/train2017', 'flickr30k/flickr30k-images', 'vg/images', 'grit/images'):
        _link(images, data / folder)
    for image in images.iterdir():  # sources whose image names are relative to data/ or data/vg/
        _link(image, data / image.name)
        _link(image, data / 'vg' / image.name)
    _copy(world / 'sharegpt4v/share-captioner_train.json', data / 'sharegpt4v/share-captioner_coco_lcs_sam_1246k_1107.json')
    chat = world / 'llava/llava_instruct_train.json'
    for name in ('sharegpt4v/sharegpt4v_instruct_gpt4-vision_cap100k.json', 'llava/conversation_58k.json',
                 'llava/complex_reasoning_77k.json'):
        _copy(chat, data / name)
    _copy(world / 'groma_instruct/groma_instruct_train.json', data / 'groma_instruct/groma_instruct.json')
    _copy(world / 'flickr30k', data / 'flickr30k_entities')
    for name in ('region_descriptions.json', 'image_data.json', 'densecap_splits.json'):
        _copy(world / 'vg' / name, data / 'vg' / name)
    for folder, refs in (('refcoco', 'refs(unc).p'), ('refcoco+', 'refs(unc).p'), ('refcocog', 'refs(umd).p')):
        _copy(world / 'refcoco/instances.json', data / folder / 'instances.json')
        _copy(world / 'refcoco/refs(unc).p', data / folder / refs)
    _copy(world / 'annotations/instances_train.json', data / 'coco/annotations/instances_train2017.json')
    with open(world / 'annotations/instances_train.json') as f:
        records = _grit_records(json.load(f))
    (data / 'grit').mkdir(exist_ok=True)
    with open(data / 'grit/grit-20m.jsonl', 'w') as f:
        f.writelines(json.dumps(r) + '\n' for r in records)
