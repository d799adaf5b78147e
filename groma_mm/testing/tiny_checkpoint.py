"""A full checkpoint of the tiny Groma with random weights, for tests and examples of the tools."""
import torch
from mmengine.config import Config

from groma_mm.registry import MODELS
from groma_mm.testing.paths import TINY_GROMA_MODEL_CONFIG


def save_tiny_groma_checkpoint(path: str, seed: int = 0, config: str = TINY_GROMA_MODEL_CONFIG) -> str:
    """Build the model of ``config`` with random weights (seeded) and save every weight to ``path``."""
    torch.manual_seed(seed)
    model = MODELS.build(Config.fromfile(config).model)
    model.init_weights()
    torch.save(dict(state_dict=model.full_state_dict()), path)
    return path
