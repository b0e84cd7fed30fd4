from .class_iou import ClassIoUMetric

__all__ = ['ClassIoUMetric']
