from .encoders import *  # noqa: F401,F403
from .llms import *  # noqa: F401,F403
from .mllm import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .proposers import *  # noqa: F401,F403
from .region_encoders import *  # noqa: F401,F403
