"""Registered data transforms (corruptions, class erasure)."""
from .corruption import (BENCHMARK_CORRUPTIONS, CORRUPTION_CATEGORIES, EXTRA_CORRUPTIONS,
                         SLOW_CORRUPTIONS, ImageCorruption, resolve_corruptions)

__all__ = ['BENCHMARK_CORRUPTIONS', 'CORRUPTION_CATEGORIES', 'EXTRA_CORRUPTIONS', 'SLOW_CORRUPTIONS',
           'ImageCorruption', 'resolve_corruptions']
