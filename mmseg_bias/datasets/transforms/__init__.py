"""Registered data transforms (corruptions, class erasure)."""
from .class_erasure import IMAGENET_MEAN_BGR, ClassErasure, resolve_classes
from .corruption import (BENCHMARK_CORRUPTIONS, CORRUPTION_CATEGORIES, EXTRA_CORRUPTIONS,
                         SLOW_CORRUPTIONS, ImageCorruption, resolve_corruptions)

__all__ = ['IMAGENET_MEAN_BGR', 'ClassErasure', 'resolve_classes', 'BENCHMARK_CORRUPTIONS',
           'CORRUPTION_CATEGORIES', 'EXTRA_CORRUPTIONS', 'SLOW_CORRUPTIONS', 'ImageCorruption',
           'resolve_corruptions']
