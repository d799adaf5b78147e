"""Paths of the source checkout (groma_mm is installed editable) for tests and examples."""
import os.path as osp

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_PROPOSER_CONFIG = osp.join(REPO_ROOT, 'configs/groma_proposer/groma-proposer_tiny-vit_1xb2-12e_synthetic.py')
TINY_GROMA_MODEL_CONFIG = osp.join(REPO_ROOT, 'configs/_base_/models/groma_tiny.py')


def load_tool(relative_path: str):
    """A script under the checkout (e.g. ``'tools/analysis/pointer_hops.py'``) imported as a module."""
    import importlib.util
    path = osp.join(REPO_ROOT, relative_path)
    spec = importlib.util.spec_from_file_location(osp.splitext(osp.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
