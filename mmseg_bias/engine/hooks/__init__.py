from .dropclass_progress import DropClassProgressHook
from .robustness_val import RobustnessValHook

__all__ = ['DropClassProgressHook', 'RobustnessValHook']
