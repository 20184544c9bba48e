"""Convolutional image encoder: 64x64 RGB -> D-dimensional latent state."""
import torch
from torch import nn
import torch.nn.functional as F


class ConvEncoder(nn.Module):
    """Strided convs down to 4x4, then one linear layer to the latent.

    Flatten + linear (not global pooling) keeps *where* things are in the image, which is
    what the state (robot position) is made of.
    """

    def __init__(self, latent_dim, channels=(16, 32, 64, 64), image_size=64):
        super().__init__()
        self.image_size = image_size
        layers, c_in = [], 3
        for c_out in channels:
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.GELU()]
            c_in = c_out
        self.convs = nn.Sequential(*layers)
        side = image_size // (2 ** len(channels))
        self.head = nn.Linear(c_in * side * side, latent_dim)

    def forward(self, images):
        """images: float (B,3,H,W) in [0,1]."""
        if images.shape[-1] != self.image_size or images.shape[-2] != self.image_size:
            images = F.interpolate(images, size=(self.image_size, self.image_size),
                                   mode='bilinear', align_corners=False, antialias=True)
        # channels_last is markedly faster for these convs on CPU.
        x = (images - 0.5).contiguous(memory_format=torch.channels_last)
        x = self.convs(x)
        return self.head(x.flatten(1))
