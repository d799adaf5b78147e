import pytest


@pytest.fixture(scope='session', autouse=True)
def _registered():
    from groma_mm.utils import register_all_modules
    register_all_modules(init_default_scope=True)
