# The released groma-7b-pretrain checkpoint (official architecture, after alignment pretraining).
#   python tools/model_converters/groma_official_to_mm.py checkpoints/groma-7b-pretrain \
#       checkpoints/groma-7b-pretrain_mm.pth --tokenizer-out checkpoints/groma-7b-pretrain_tokenizer
#   python tools/infer.py configs/groma/groma_official_vicuna-7b_pretrain.py checkpoints/groma-7b-pretrain_mm.pth \
#       --image demo.jpg --prompt "Locate <p>the dog</p> in the image." --device cuda
# It was trained on conv_default, whose replies end with a space, not "</s>": the model has no learned stop,
# so answers run to EOS or max_new_tokens (REC answers are 3 tokens: set max_new_tokens=3 for REC).
_base_ = ['./groma_official_vicuna-7b_finetune.py']
checkpoint = 'checkpoints/groma-7b-pretrain_mm.pth'
tokenizer_path = 'checkpoints/groma-7b-pretrain_tokenizer'
load_from = checkpoint

model = dict(tokenizer=dict(pretrained=tokenizer_path), prompt=dict(template='default'),
             generation_cfg=dict(max_new_tokens=64))
