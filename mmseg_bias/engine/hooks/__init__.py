from .dropclass_progress import DropClassProgressHook

__all__ = ['DropClassProgressHook']
