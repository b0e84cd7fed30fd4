"""Implicit background estimation (IBE; Lehman, Temel, AlRegib, ICIP 2020) for any decode head.

The head's classifier predicts only the K−1 foreground logits z; the background logit is
z_bg = −logsumexp(z), inserted at ``background_index`` so the head still outputs K logits and
metrics, visualisation and inference see the dataset's K classes. With S = Σ_k exp(z_k), softmax
gives the background probability 1 / (1 + S²) and a sigmoid 1 / (1 + S).
"""
import torch
import torch.nn as nn
from mmseg.models.utils import resize
from mmseg.registry import MODELS

from .mixin_heads import mixin_head_class

__all__ = ['ImplicitBackgroundHead', 'ImplicitBackgroundMixin', 'implicit_background_logits']


def implicit_background_logits(fg_logits, background_index=0):
    """(B, K−1, H, W) foreground logits -> (B, K, H, W) with −logsumexp inserted at ``background_index``."""
    bg = -torch.logsumexp(fg_logits, dim=1, keepdim=True)
    return torch.cat([fg_logits[:, :background_index], bg, fg_logits[:, background_index:]], dim=1)


class ImplicitBackgroundMixin:
    """implicit background estimation (IBE, see mmseg_bias.models.heads.implicit_background)."""

    def __init__(self, *args, background_index=0, compose='before_resize', **kwargs):
        super().__init__(*args, **kwargs)
        conv = getattr(self, 'conv_seg', None)
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f'ImplicitBackgroundHead needs a head whose classifier is the conv '
                            f'conv_seg; {type(self).__mro__[2].__name__} has {conv!r}')
        if not 0 <= background_index < self.num_classes:
            raise ValueError(f'background_index must be a class index in [0, {self.num_classes}), '
                             f'got {background_index}')
        if compose not in ('before_resize', 'after_resize'):
            raise ValueError("compose must be 'before_resize' (the authors' notebook) or "
                             f"'after_resize' (their packaged module), got {compose!r}")
        self.background_index = background_index
        self.compose = compose
        self.conv_seg = nn.Conv2d(conv.in_channels, self.num_classes - 1, conv.kernel_size,
                                  padding=conv.padding)

    def cls_seg(self, feat):
        """(B, K, h, w) logits; (B, K−1, h, w) foreground logits if composed after resizing."""
        fg = super().cls_seg(feat)
        if self.compose == 'after_resize':
            return fg
        return implicit_background_logits(fg, self.background_index)

    def _full_logits(self, seg_logits, size):
        if self.compose == 'before_resize':
            return seg_logits
        fg = resize(seg_logits, size=size, mode='bilinear', align_corners=self.align_corners)
        return implicit_background_logits(fg, self.background_index)

    def loss_by_feat(self, seg_logits, batch_data_samples):
        size = batch_data_samples[0].gt_sem_seg.shape
        return super().loss_by_feat(self._full_logits(seg_logits, size), batch_data_samples)

    def predict_by_feat(self, seg_logits, batch_img_metas):
        meta = batch_img_metas[0]
        size = meta['img_shape'] if isinstance(meta['img_shape'], torch.Size) else \
            meta.get('pad_shape', meta['img_shape'])[:2]
        return super().predict_by_feat(self._full_logits(seg_logits, size), batch_img_metas)


@MODELS.register_module()
def ImplicitBackgroundHead(base_type, background_index=0, compose='before_resize', **head_kwargs):
    """Build decode head ``base_type`` (e.g. ASPPHead, FCNHead) with implicit background.

    A stock config gains IBE with ``decode_head=dict(type='ImplicitBackgroundHead',
    base_type='ASPPHead')``; ``num_classes`` stays the dataset's K.

    Args:
        base_type (str): registered decode head whose classifier is ``conv_seg``.
        background_index (int): which class is background (VOC: 0).
        compose (str): 'before_resize' applies −logsumexp at the head's resolution (the authors'
            notebook); 'after_resize' after upsampling the K−1 logits (their packaged module).
    """
    cls = mixin_head_class(ImplicitBackgroundMixin, base_type, 'ImplicitBackground', __name__)
    return cls(background_index=background_index, compose=compose, **head_kwargs)
