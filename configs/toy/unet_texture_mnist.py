# The toy U-Net (configs/_base_/models/toy_unet.py, 0.45 M parameters) on Texture-MNIST, grid
# saliency supp. §S1.2: pixel-wise softmax over 11 classes, cross-entropy, RMSprop with the lr
# divided by 10 for the last fifth of training. The paper: 50 epochs of 50k images, batch 100,
# lr 1e-3 then 1e-4 (unet_texture_mnist_50e.py). This default is that schedule scaled down to 5
# minutes of a 2-core CPU: 2600 iterations of 32 images (about 14 epochs of 6000 images), lr 2e-3
# then 2e-4 — twice the paper's lr, which reached 0.69 instead of 0.76 mIoU in the same time
# (README.md, Texture-MNIST benchmark). RMSprop's smoothing constant and epsilon are not in the
# paper: torch's.
# Generate the data first (tools/dataset_converters/texture_mnist.py --out data/texture_mnist).
_base_ = [
    '../_base_/models/toy_unet.py', '../_base_/datasets/texture_mnist.py',
    'mmseg::_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmseg_bias'], allow_failed_imports=False)
train_dataloader = dict(batch_size=32, num_workers=0, persistent_workers=False)
val_dataloader = dict(batch_size=50, num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
max_iters = 2600
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='RMSprop', lr=2e-3))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, milestones=[int(max_iters * 0.8)], gamma=0.1)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters, max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
randomness = dict(seed=0)
