# DeepLabV3 R50-D8 on Cityscapes, the baseline for a fair comparison with DropClass (same model, data and LR;
# stock 80k-iteration schedule). LR: the paper's 0.01 at batch 12 (supp. Table E-3) scaled
# linearly to MMSeg's batch of 4 GPUs x 2 images.
_base_ = ['mmseg::deeplabv3/deeplabv3_r50-d8_4xb2-80k_cityscapes-512x1024.py']
custom_imports = dict(imports=['mmseg_bias'], allow_failed_imports=False)
optim_wrapper = dict(optimizer=dict(lr=0.01 * 8 / 12))
