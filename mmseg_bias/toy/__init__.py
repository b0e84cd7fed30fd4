"""Texture-MNIST (grid saliency, supp. §S1): digits, textures and the dataset generator.

The context-bias benchmark lives in :mod:`mmseg_bias.toy.benchmark` (with :mod:`.runs` and
:mod:`.scoring`), imported on demand: it needs the saliency explainers and the training API.
"""
from .digits import load_mnist, read_idx, render_digit, render_digits
from .generator import (STRENGTHS, background_tiles, compose_sample, digit_mask,
                        generate_texture_mnist, parse_bias)
from .textures import BIAS_TEXTURES, TEXTURES, load_textures, procedural_textures, random_crop

__all__ = ['load_mnist', 'read_idx', 'render_digit', 'render_digits', 'STRENGTHS',
           'background_tiles', 'compose_sample', 'digit_mask', 'generate_texture_mnist',
           'parse_bias', 'BIAS_TEXTURES', 'TEXTURES', 'load_textures', 'procedural_textures',
           'random_crop']
