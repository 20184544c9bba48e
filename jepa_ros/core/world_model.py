"""JEPA world model: encoder + action-conditioned latent predictor (+ H-JEPA level 2).

API (docs/DEVELOPING.md "World model"): `encode(images) -> (B, D)`,
`predict(s, a, z=None) -> s'`, `rollout(s0, actions, z=None) -> (B, T, D)`.
Actions are normalised to [-1, 1]^A; `config.action_scale` turns them back into physical
units (one factor per action dimension).
"""
import dataclasses
from dataclasses import dataclass, field
from typing import List

import numpy as np
import torch
from torch import nn

from jepa_ros.core import action_modes
from jepa_ros.core.encoder import ConvEncoder, KeypointEncoder
from jepa_ros.core.hjepa import Level2
from jepa_ros.core.latent import LatentCodebook
from jepa_ros.core.predictor import InverseDynamicsHead, ResidualPredictor, rollout_by_steps


@dataclass
class WorldModelConfig:
    world: str = 'two_rooms'
    image_size: int = 64
    latent_dim: int = 128
    action_dim: int = 2
    action_scale: List[float] = field(default_factory=lambda: [1.0, 1.0])
    action_mode: str = 'holonomic'
    encoder_type: str = 'conv'  # 'conv' (strided convs + linear) or 'keypoints'
    encoder_channels: List[int] = field(default_factory=lambda: [16, 32, 64, 64])
    blur_sigma: float = 1.0   # input Gaussian blur (pixels); 0 = none
    keypoints: int = 32
    global_dim: int = 32
    predictor_hidden: int = 256
    predictor_layers: int = 2
    z_dim: int = 0            # 0: deterministic predictor
    z_codes: int = 1          # size of the discrete z codebook (code 0 = zeros)
    level2_k: int = 0         # 0: no H-JEPA level 2
    level2_dim: int = 64
    level2_hidden: int = 256

    def __post_init__(self):
        # Checkpoints written before the mode names were unified say 'ee_velocity' or
        # 'differential': a loaded config carries the canonical name.
        self.action_mode = action_modes.canonical(self.action_mode)
        self.action_scale = [float(x) for x in self.action_scale]
        self.encoder_channels = [int(x) for x in self.encoder_channels]
        if len(self.action_scale) != self.action_dim:
            raise ValueError(f'action_scale has {len(self.action_scale)} entries, '
                             f'action_dim is {self.action_dim}')
        if self.encoder_type not in ('keypoints', 'conv'):
            raise ValueError(f"encoder_type must be 'keypoints' or 'conv', "
                             f"got {self.encoder_type!r}")
        if self.encoder_type == 'keypoints' and len(self.encoder_channels) != 3:
            raise ValueError('the keypoint encoder takes 3 encoder_channels')
        down = 16 if self.encoder_type == 'keypoints' else 2 ** len(self.encoder_channels)
        if self.latent_dim < 1 or self.image_size % down:
            raise ValueError(f'latent_dim must be >= 1 and image_size divisible by {down}')
        if self.z_dim and self.z_codes < 2:
            raise ValueError('z_dim > 0 needs z_codes >= 2')

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f'unknown world model config keys: {sorted(unknown)}')
        return cls(**d)


def images_to_tensor(images, device=None):
    """uint8 (B,H,W,3) array/tensor or float (B,3,H,W) in [0,1] -> float (B,3,H,W)."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if images.dtype == torch.uint8:
        if images.dim() == 3:
            images = images.unsqueeze(0)
        images = images.permute(0, 3, 1, 2).float().div_(255.0)
    elif images.dim() == 3:
        images = images.unsqueeze(0)
    if device is not None:
        images = images.to(device)
    return images


class WorldModel(nn.Module):
    checkpoint_kind = 'world_model'

    def __init__(self, config=None):
        super().__init__()
        self.config = config if config is not None else WorldModelConfig()
        c = self.config
        if c.encoder_type == 'keypoints':
            self.encoder = KeypointEncoder(c.latent_dim, c.encoder_channels, c.keypoints,
                                           c.global_dim, c.image_size, c.blur_sigma)
        else:
            self.encoder = ConvEncoder(c.latent_dim, c.encoder_channels, c.image_size,
                                       c.blur_sigma)
        self.predictor = ResidualPredictor(c.latent_dim, c.action_dim, c.z_dim,
                                           c.predictor_hidden, c.predictor_layers)
        self.inverse = InverseDynamicsHead(c.latent_dim, c.action_dim, c.predictor_hidden)
        self.codebook = LatentCodebook(c.z_codes, c.z_dim) if c.z_dim else None
        self.level2 = (Level2(c.latent_dim, c.action_dim, c.level2_k, c.level2_dim,
                              c.level2_hidden) if c.level2_k else None)

    @property
    def device(self):
        return next(self.parameters()).device

    def encode(self, images):
        return self.encoder(images_to_tensor(images, self.device))

    def predict(self, s, a, z=None):
        return self.predictor(s, a, z)

    def rollout(self, s0, actions, z=None):
        """Open-loop: (B,D), (B,T,A), z None | (B,Z) | (B,T,Z) -> (B,T,D)."""
        return rollout_by_steps(self.predict, s0, actions, z)

    @torch.no_grad()
    def recenter(self, offset):
        """Move the latent origin to `offset` (D,) without changing any prediction.

        Every loss is blind to where the latent cloud sits, so its mean drifts; one run
        ended at |mean| 9 per dimension against a spread of 0.6, with a dead, copy-only
        predictor that a fresh one could replace only on centred latents. Subtracting
        `offset` in the encoder's last layer and adding it back into the first-layer bias
        of every module that reads latents is an exact reparametrisation: the predictor
        maps s - offset to s' - offset, the inverse and level-2 heads see the same thing.
        """
        d = self.config.latent_dim
        offset = offset.to(self.encoder.head.bias)
        self.encoder.head.bias -= offset
        first = self.predictor.net[0]                    # input [s, a, z]
        first.bias += first.weight[:, :d] @ offset
        first = self.inverse.net[0]                      # input [s, s']
        first.bias += first.weight[:, :d] @ offset + first.weight[:, d:2 * d] @ offset
        if self.level2 is not None:
            first = self.level2.encoder[0]               # input s
            first.bias += first.weight @ offset

    def latent_codes(self):
        """(K, Z) candidate z values for best-of-K prediction (None if deterministic)."""
        return None if self.codebook is None else self.codebook.codes()
