from .class_drop import ClassDropBlock, DropClassHead, class_gate, dropclass_head_class

__all__ = ['ClassDropBlock', 'DropClassHead', 'class_gate', 'dropclass_head_class']
