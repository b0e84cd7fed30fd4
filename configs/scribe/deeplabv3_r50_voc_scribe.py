# SCrIBE: IBE's forward pass trained with sigmoid cross-entropy over the 21 one-hot channels.
# Ignore pixels are excluded (ignore_as_background=True reproduces the authors' code).
_base_ = ['./deeplabv3_r50_voc_ibe.py']
model = dict(
    decode_head=dict(
        loss_decode=dict(_delete_=True, type='SigmoidCrossEntropyLoss', ignore_as_background=False,
                         background_index=0, loss_weight=1.0, loss_name='loss_scribe')))
