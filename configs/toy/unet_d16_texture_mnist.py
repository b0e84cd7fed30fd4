# The context-bias benchmark's default model (tools/saliency/context_bias_benchmark.py): the toy
# U-Net at half width (16 base channels, 0.45 M parameters; unet_texture_mnist.py has 32) with a
# CPU schedule of 1500 iterations of 16 images, RMSprop lr 1e-3 then 1e-4 for the last fifth
# (the paper's 50 epochs of 50k images scaled down; --paper-schedule in the tool restores them).
_base_ = ['./unet_texture_mnist.py']
model = dict(backbone=dict(base_channels=16), decode_head=dict(in_channels=16, channels=16))
max_iters = 1500
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, milestones=[int(max_iters * 0.8)], gamma=0.1)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
