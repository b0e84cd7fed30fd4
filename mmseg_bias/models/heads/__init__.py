from .class_drop import ClassDropBlock, DropClassHead, DropClassMixin, class_gate
from .implicit_background import (ImplicitBackgroundHead, ImplicitBackgroundMixin,
                                  implicit_background_logits)

__all__ = [
    'ClassDropBlock', 'DropClassHead', 'DropClassMixin', 'class_gate', 'ImplicitBackgroundHead',
    'ImplicitBackgroundMixin', 'implicit_background_logits'
]
