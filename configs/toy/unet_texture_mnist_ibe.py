# The toy U-Net with implicit background estimation (configs/scribe/README.md): the head predicts
# the 10 digit logits, background (class 0) = -logsumexp of them, applied before upsampling as in
# the authors' notebook. Softmax CE and everything else as the baseline.
_base_ = ['./unet_texture_mnist.py']
model = dict(
    decode_head=dict(type='ImplicitBackgroundHead', base_type='FCNHead', background_index=0,
                     compose='before_resize'))
