"""Convolutional image encoder: 64x64 RGB -> D-dimensional latent state."""
import torch
from torch import nn
import torch.nn.functional as F


class GaussianBlur(nn.Module):
    """Fixed depthwise Gaussian blur of the input image.

    A robot a few pixels wide changes its pixel pattern in jumps as it crosses pixel
    boundaries; without blur the latent follows that aliasing, which no predictor can
    forecast from (s, a). Blurred, a sub-pixel move is a smooth change of intensities.
    """

    def __init__(self, sigma):
        super().__init__()
        radius = max(1, int(round(2.5 * sigma)))
        x = torch.arange(-radius, radius + 1, dtype=torch.float32)
        k = torch.exp(-0.5 * (x / sigma) ** 2)
        k = k / k.sum()
        self.register_buffer('kernel', k, persistent=False)
        self.radius = radius

    def forward(self, x):
        c = x.shape[1]
        kx = self.kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1)
        ky = self.kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1)
        x = F.pad(x, (self.radius,) * 4, mode='replicate')
        return F.conv2d(F.conv2d(x, kx, groups=c), ky, groups=c)


def _prepare(images, image_size, blur):
    if images.shape[-1] != image_size or images.shape[-2] != image_size:
        images = F.interpolate(images, size=(image_size, image_size), mode='bilinear',
                               align_corners=False, antialias=True)
    images = images - 0.5
    if blur is not None:
        images = blur(images)
    # channels_last is markedly faster for these convs on CPU.
    return images.contiguous(memory_format=torch.channels_last)


class ConvEncoder(nn.Module):
    """Strided convs down to 4x4, then one linear layer to the latent.

    Flatten + linear (not global pooling) keeps *where* things are in the image, which is
    what the state (robot position) is made of.
    """

    def __init__(self, latent_dim, channels=(16, 32, 64, 64), image_size=64, blur_sigma=0.0):
        super().__init__()
        self.image_size = image_size
        self.blur = GaussianBlur(blur_sigma) if blur_sigma > 0 else None
        layers, c_in = [], 3
        for c_out in channels:
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.GELU()]
            c_in = c_out
        self.convs = nn.Sequential(*layers)
        side = image_size // (2 ** len(channels))
        self.head = nn.Linear(c_in * side * side, latent_dim)

    def forward(self, images):
        """images: float (B,3,H,W) in [0,1]."""
        x = self.convs(_prepare(images, self.image_size, self.blur))
        return self.head(x.flatten(1))


class KeypointEncoder(nn.Module):
    """Conv features -> spatial soft-argmax keypoints (+ a small global branch) -> latent.

    Each keypoint is the expected (x, y) of one feature channel's spatial softmax, so it
    moves smoothly and almost linearly with the object it tracks: the latent dynamics become
    easy to predict and latent distance follows distance in the world. The global branch
    keeps what has no position (e.g. a door open or closed).
    """

    def __init__(self, latent_dim, channels=(16, 32, 32), keypoints=32, global_dim=32,
                 image_size=64, blur_sigma=0.0):
        super().__init__()
        self.image_size = image_size
        self.blur = GaussianBlur(blur_sigma) if blur_sigma > 0 else None
        c = list(channels)
        self.stem = nn.Sequential(
            nn.Conv2d(3, c[0], 4, stride=2, padding=1), nn.GELU(),    # S/2
            nn.Conv2d(c[0], c[1], 4, stride=2, padding=1), nn.GELU(),  # S/4
            nn.Conv2d(c[1], c[2], 3, padding=1), nn.GELU())
        self.keypoint_logits = nn.Conv2d(c[2], keypoints, 1)
        self.global_branch = nn.Sequential(
            nn.Conv2d(c[2], c[2], 4, stride=4), nn.GELU(),             # S/16
            nn.Flatten(), nn.Linear(c[2] * (image_size // 16) ** 2, global_dim), nn.GELU())
        # A sharp softmax from the start: a near-uniform one puts every keypoint at the
        # image centre, the latent barely varies and training idles for ~100 steps.
        self.log_temperature = nn.Parameter(torch.tensor([-2.0]))
        self.head = nn.Linear(2 * keypoints + global_dim, latent_dim)
        side = image_size // 4
        coords = torch.linspace(-1.0, 1.0, side)
        self.register_buffer('grid_x', coords.repeat(side), persistent=False)
        self.register_buffer('grid_y', coords.repeat_interleave(side), persistent=False)

    def forward(self, images):
        feats = self.stem(_prepare(images, self.image_size, self.blur))
        # (B, K, H*W) logits, sharpened by a learned temperature
        logits = self.keypoint_logits(feats).flatten(2) * torch.exp(-self.log_temperature)
        attn = torch.softmax(logits, dim=-1)
        kx = attn @ self.grid_x
        ky = attn @ self.grid_y
        g = self.global_branch(feats)
        return self.head(torch.cat([kx, ky, g], dim=-1))
