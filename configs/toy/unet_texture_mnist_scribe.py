# The toy U-Net with SCrIBE: IBE's forward pass trained with sigmoid cross-entropy over the 11
# one-hot channels (ignore pixels excluded; Texture-MNIST has none).
_base_ = ['./unet_texture_mnist_ibe.py']
model = dict(
    decode_head=dict(
        loss_decode=dict(_delete_=True, type='SigmoidCrossEntropyLoss', ignore_as_background=False,
                         background_index=0, loss_weight=1.0, loss_name='loss_scribe')))
