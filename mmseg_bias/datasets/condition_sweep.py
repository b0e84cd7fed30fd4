"""One dataset over (condition, image) pairs, so that a whole corruption sweep is a single pass.

Evaluating 75 corruption conditions as 75 separate test runs pays 75 dataloader start-ups and
leaves the dataloader workers idle between runs. :class:`ConditionSweep` instead lists every image
under every condition, condition-major, behind one dataloader: workers corrupt the next images
while the model runs, and each condition's results are complete as soon as its last image is
processed.
"""
import copy

from mmcv.transforms import Compose
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS
from torch.utils.data import Dataset

__all__ = ['ConditionSweep', 'insert_transforms']


def insert_transforms(pipeline, transforms, after):
    """``pipeline`` (list of configs) with ``transforms`` inserted after its first ``after`` step."""
    types = [step['type'] for step in pipeline]
    if after not in types:
        raise ValueError(f'the test pipeline has no {after!r} step to insert transforms after; '
                         f'its steps are {types}')
    i = types.index(after) + 1
    return list(pipeline[:i]) + [dict(t) for t in transforms] + list(pipeline[i:])


class ConditionSweep(Dataset):
    """Every image of ``dataset_cfg`` under every condition, condition-major.

    Args:
        dataset_cfg (dict): an mmseg test dataset config (with its pipeline).
        conditions (list[list[dict]]): per condition, the transform configs to insert (``[]`` =
            the plain pipeline).
        after (str): pipeline step after which the transforms are inserted.
        rank, world_size (int): this process's share: per condition the images
            ``rank, rank + world_size, ...`` of the list padded by wrapping around to a multiple of
            ``world_size`` — exactly mmengine's DefaultSampler order, so ``collect_results``
            reassembles and truncates each condition as it does for a plain test run.

    Items are the pipeline's output with ``condition`` (index into ``conditions``) added to the
    data sample's metainfo.
    """

    def __init__(self, dataset_cfg, conditions, after='LoadImageFromFile', rank=0, world_size=1):
        init_default_scope('mmseg')
        cfg = copy.deepcopy(dataset_cfg)
        pipeline = cfg.pop('pipeline', [])
        self.dataset = DATASETS.build(dict(cfg, pipeline=[]))
        self.metainfo = self.dataset.metainfo
        self.num_images = len(self.dataset)
        if self.num_images == 0:
            raise ValueError(f'the test set is empty (data_root={cfg.get("data_root")!r}, '
                             f'data_prefix={cfg.get("data_prefix")!r}); check the dataset paths')
        if not conditions:
            raise ValueError('no condition to evaluate; pass at least one (an empty list of '
                             'transforms is the clean condition)')
        self.pipelines = [Compose(insert_transforms(pipeline, extra, after) if extra else pipeline)
                          for extra in conditions]
        per_rank = -(-self.num_images // world_size)
        padded = [i % self.num_images for i in range(per_rank * world_size)]
        self.images = padded[rank::world_size]
        self.images_per_condition = len(self.images)

    def __len__(self):
        return len(self.pipelines) * self.images_per_condition

    def __getitem__(self, index):
        condition, k = divmod(index, self.images_per_condition)
        results = self.pipelines[condition](self.dataset.get_data_info(self.images[k]))
        results['data_samples'].set_metainfo(dict(condition=condition))
        return results
