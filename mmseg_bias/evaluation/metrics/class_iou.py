"""mmseg's IoUMetric, also returning the per-class IoU that it otherwise only prints."""
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS


@METRICS.register_module()
class ClassIoUMetric(IoUMetric):
    """IoUMetric whose results also hold ``IoU.<class name>`` (%, NaN where a class is absent
    from both predictions and labels). Arguments as IoUMetric."""

    def compute_metrics(self, results):
        metrics = super().compute_metrics(results)
        intersect = sum(r[0] for r in results)
        union = sum(r[1] for r in results)
        iou = (intersect / union * 100).tolist()
        for name, value in zip(self.dataset_meta['classes'], iou):
            metrics[f'IoU.{name}'] = round(value, 2)
        return metrics
