# The toy U-Net with DropClass (configs/dropclass/README.md): the baseline's model, data and schedule,
# the DropClass head on its FCN head (alpha = 10, the paper's) and t stepped every iteration. Same
# iterations as the baseline, unlike the paper's 2x on real data: on the toy benchmark all four
# models get one budget, so the comparison isolates the head and the loss.
_base_ = ['./unet_texture_mnist.py']
model = dict(decode_head=dict(type='DropClassHead', base_type='FCNHead', alpha=10.0))
custom_hooks = [dict(type='DropClassProgressHook', by_epoch=False)]
