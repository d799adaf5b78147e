# Stage 0 of the main job (tools/pretrain_toy_llm.py): the toy LLM's own pretraining, the part Vicuna's
# language pretraining plays in the paper. It learns text-only REC lookups in Groma's prompt (region slots
# holding word bags) before any image; stages 2 and 3 then load the folder it writes as a user loads Vicuna
# (model.llm.pretrained=DIR model.llm.config=None model.tokenizer.pretrained=DIR).
_base_ = ['./groma_tiny_1xb8-stage2-align_synthetic.py']

model = dict(
    llm=dict(
        freeze_llm=False,
        # 16 heads of 16: the lookup takes off within the budget (4 heads of 16 needed ~3x the steps, 16 of
        # 4 reached 0.76 where 16 of 16 reached 0.97: docs/main_job.md); a wider init breaks the symmetry sooner.
        # 3 layers: the lookup needs two hops (the slot takes its <rK>, the reply finds the slot), and a third
        # layer leaves room: the main job's curriculum reaches 0.96 on fresh whole prompts where 2 layers
        # reached 0.83 (width 128 instead: 0.64).
        config=dict(num_hidden_layers=3, num_attention_heads=16, num_key_value_heads=16, head_dim=16,
                    initializer_range=0.1)))
