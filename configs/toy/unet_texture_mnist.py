# Small U-Net (mmseg's UNet, 1.8 M parameters) on Texture-MNIST, grid saliency supp. §S1.2:
# pixel-wise softmax over 11 classes, cross-entropy, RMSprop lr 1e-3 then 1e-4 for the last fifth
# of training (the paper: 50 epochs of 50k images, batch 100, lr drop after epoch 40 — see
# unet_texture_mnist_50e.py). This default is the paper's schedule scaled down for a CPU.
# RMSprop's smoothing constant and epsilon are not in the paper: torch's defaults.
# Generate the data first (tools/dataset_converters/texture_mnist.py --out data/texture_mnist).
_base_ = [
    '../_base_/models/toy_unet.py', '../_base_/datasets/texture_mnist.py',
    'mmseg::_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmseg_bias'], allow_failed_imports=False)
train_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False)
val_dataloader = dict(batch_size=50, num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
max_iters = 2000
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='RMSprop', lr=1e-3))
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
