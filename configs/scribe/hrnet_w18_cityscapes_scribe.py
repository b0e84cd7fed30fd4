# SCrIBE on Cityscapes: IBE (implicit class 0, 'road') trained with sigmoid cross-entropy.
_base_ = ['./hrnet_w18_cityscapes_ibe.py']
model = dict(
    decode_head=dict(
        loss_decode=dict(_delete_=True, type='SigmoidCrossEntropyLoss', ignore_as_background=False,
                         background_index=0, loss_weight=1.0, loss_name='loss_scribe')))
