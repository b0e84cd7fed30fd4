# Texture-MNIST (grid saliency, supp. §S1): 64x64 grey images (loaded as 3 equal channels), 11
# classes (0 background, 1 + d = digit d). Generate it first:
#   python tools/dataset_converters/texture_mnist.py --out data/texture_mnist [--bias 3:checker_8]
# Training on the (possibly biased) train split; validation and test on the fixed unbiased test set;
# `split='test_biased'` selects the biased test set (written when the dataset has a bias).
# No augmentation: the paper mentions none, and flips would change digits.
dataset_type = 'TextureMNISTDataset'
data_root = 'data/texture_mnist'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=100,  # paper
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=100,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='test', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='ClassIoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
