# Swapping the proposer: mmdet's own DINO detector (one class) instead of GromaProposer, same encoder.
# Groma reads proposals from any mmdet DETR-family detector, so only the proposer's type changes.
_base_ = ['./groma_tiny.py']

model = dict(proposer=dict(type='mmdet.DINO'))
