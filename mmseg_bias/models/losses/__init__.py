from .sigmoid_ce_loss import SigmoidCrossEntropyLoss

__all__ = ['SigmoidCrossEntropyLoss']
