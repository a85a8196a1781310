"""kerazoo.losses: the course's losses and regularizers as Keras objects, serializable and usable by name.

Each module holds one group of losses and lists them in its ``__all__``; ``get(name)`` resolves a name from a config.
"""

# One import line per module (each module's owner adds its own line).
from kerazoo.losses.base import *  # noqa: F401,F403
from kerazoo.losses.classification import *  # noqa: F401,F403
from kerazoo.losses.regularizers import *  # noqa: F401,F403
from kerazoo.losses.detection import *  # noqa: F401,F403
from kerazoo.losses.generative import *  # noqa: F401,F403
from kerazoo.losses.segmentation import *  # noqa: F401,F403
from kerazoo.losses.style import *  # noqa: F401,F403
from kerazoo.losses.distillation import *  # noqa: F401,F403
