"""SCrIBE's loss (Lehman, Temel, AlRegib, ICIP 2020): sigmoid cross-entropy over one-hot targets."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

__all__ = ['SigmoidCrossEntropyLoss']


@MODELS.register_module()
class SigmoidCrossEntropyLoss(nn.Module):
    """Binary cross-entropy with logits for every one of the K channels against one-hot targets.

    Train SCrIBE with an ``ImplicitBackgroundHead`` and this loss as its ``loss_decode``.

    Args:
        ignore_as_background (bool): False (default): ignore pixels contribute nothing.
            True: they become background targets, as in the authors' code.
        background_index (int): the background class, for ``ignore_as_background``.
        class_weight (list[float], optional): per-channel weights (K,).
        reduction (str): 'mean' over valid pixels x channels (PyTorch's BCEWithLogitsLoss
            default, as the authors used) or 'sum'.
        loss_weight (float): multiplier of the loss.
        loss_name (str): key in the loss dict; must start with 'loss_'.
    """

    def __init__(self, ignore_as_background=False, background_index=0, class_weight=None,
                 reduction='mean', loss_weight=1.0, loss_name='loss_sigmoid_ce'):
        super().__init__()
        if reduction not in ('mean', 'sum'):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        if not loss_name.startswith('loss_'):
            raise ValueError(f"loss_name must start with 'loss_' to be summed, got {loss_name!r}")
        self.ignore_as_background = ignore_as_background
        self.background_index = background_index
        self.class_weight = class_weight
        self.reduction = reduction
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    @property
    def loss_name(self):
        return self._loss_name

    def forward(self, cls_score, label, weight=None, ignore_index=255, **kwargs):
        """cls_score: (B, K, H, W) logits; label: (B, H, W) class indices; weight: (B, H, W)."""
        num_classes = cls_score.shape[1]
        ignored = label == ignore_index
        if self.ignore_as_background:
            label = label.masked_fill(ignored, self.background_index)
            valid = torch.ones_like(ignored)
        else:
            label = label.masked_fill(ignored, 0)
            valid = ~ignored
        if label.max() >= num_classes:
            raise ValueError(f'label {int(label.max())} is out of range for {num_classes} '
                             'channels; set ignore_index or the head\'s num_classes correctly')
        target = F.one_hot(label, num_classes).permute(0, 3, 1, 2).to(cls_score.dtype)
        loss = F.binary_cross_entropy_with_logits(cls_score, target, reduction='none')
        if self.class_weight is not None:
            loss = loss * cls_score.new_tensor(self.class_weight).view(1, -1, 1, 1)
        mask = valid.to(cls_score.dtype)
        if weight is not None:
            mask = mask * weight
        loss = loss * mask[:, None]
        if self.reduction == 'sum':
            return self.loss_weight * loss.sum()
        count = valid.sum().clamp(min=1) * num_classes
        return self.loss_weight * loss.sum() / count
