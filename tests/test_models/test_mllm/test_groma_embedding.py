"""Image and region tokens land exactly on their slots, for a batch with different numbers of regions."""
import torch
from mmengine.config import Config

from groma_mm.registry import MODELS
from groma_mm.testing.paths import TINY_GROMA_MODEL_CONFIG


def test_visual_tokens_are_scattered_onto_their_slots():
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(TINY_GROMA_MODEL_CONFIG).model)
    builder = model.prompt_builder
    conversations = [
        [dict(role='user', content='What is <box0>?'), dict(role='assistant', content='a red circle')],
        [dict(role='user', content='Compare <box0> and <box1>.'), dict(role='assistant', content='they match')],
    ]
    num_regions = [3, 5]
    box_to_region = [[2], [4, 0]]
    prompts = [builder(c, n, m) for c, n, m in zip(conversations, num_regions, box_to_region)]
    batch = builder.pad(prompts, padding_side='right')
    hidden = model.llm.config.hidden_size
    # Every visual token is recognisable: image token t of sample b = 1000·b + t, region r of b = -(100·b + r + 1).
    image_tokens = torch.stack([torch.arange(16.0) + 1000 * b for b in range(2)])[..., None].expand(2, 16, hidden)
    region_tokens = [-(torch.arange(float(n)) + 100 * b + 1)[:, None].expand(n, hidden) for b, n in
                     enumerate(num_regions)]
    embeds = model._embed(batch, image_tokens, region_tokens)

    text = model.llm.get_input_embeddings()(batch['input_ids'])
    for b in range(2):
        image_pos = batch['image_mask'][b].nonzero().flatten()
        assert torch.equal(embeds[b, image_pos, 0], torch.arange(16.0) + 1000 * b)
        region_pos = batch['region_mask'][b].nonzero().flatten()
        # The intro lists every region in order, then each referred box's region appears where it is named.
        expected = list(range(num_regions[b])) + box_to_region[b]
        assert embeds[b, region_pos, 0].tolist() == [-(100 * b + r + 1) for r in expected]
        text_pos = ~(batch['image_mask'][b] | batch['region_mask'][b])
        assert torch.equal(embeds[b, text_pos], text[b, text_pos])
