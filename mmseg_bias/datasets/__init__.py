from .texture_mnist import TextureMNISTDataset
from .transforms import *  # noqa: F401,F403
