# The toy U-Net with the paper's full schedule (grid saliency supp. §S1.2): 50 epochs over the
# training set (50k images: generate with --num-train 50000), batch 100, RMSprop lr 1e-3 for 40
# epochs then 1e-4. A GPU job: about 25k iterations.
_base_ = ['./unet_texture_mnist.py']
optim_wrapper = dict(optimizer=dict(lr=1e-3))
train_dataloader = dict(batch_size=100, num_workers=4, persistent_workers=True,
                        sampler=dict(type='DefaultSampler', shuffle=True))
train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=50, val_interval=10)
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[40], gamma=0.1)]
default_hooks = dict(
    logger=dict(log_metric_by_epoch=True),
    checkpoint=dict(by_epoch=True, interval=10, max_keep_ckpts=1))
