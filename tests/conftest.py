import os.path as osp

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_PROPOSER_CONFIG = osp.join(REPO_ROOT, 'configs/groma_proposer/groma-proposer_tiny-vit_1xb2-20e_synthetic.py')


@pytest.fixture(scope='session', autouse=True)
def _registered():
    from groma_mm.utils import register_all_modules
    register_all_modules(init_default_scope=True)
