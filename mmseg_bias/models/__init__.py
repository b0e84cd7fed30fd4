from .heads import *  # noqa: F401,F403
