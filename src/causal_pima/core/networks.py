"""Encoders and decoders: a small convolutional pair for images, an MLP pair for vectors (curves).

Every encoder maps its modality to a diagonal Gaussian expert ``(mu, logvar)`` in R^D; every decoder
maps a latent sample back to the mean of a Gaussian likelihood (docs/model.md "Model and ELBO").
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

# keep encoder log-variances in a numerically safe range (variances 1e-6 .. e^6)
LOGVAR_MIN, LOGVAR_MAX = -14.0, 6.0


def _check_image_shape(image_shape: Sequence[int], n_layers: int) -> tuple[int, int, int]:
    if len(image_shape) != 3:
        raise ValueError(f"image_shape must be (C, H, W), got {tuple(image_shape)}")
    c, h, w = (int(v) for v in image_shape)
    step = 2**n_layers
    if h % step or w % step:
        raise ValueError(
            f"image height and width ({h}x{w}) must be divisible by 2**len(channels) = {step}"
        )
    return c, h, w


class ImageEncoder(nn.Module):
    """Strided 4x4 convolutions (each halves H and W), then a linear head.

    Input ``[B, C, H, W]``; output ``(mu, logvar)`` each ``[B, latent_dim]``.
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        latent_dim: int,
        channels: Sequence[int] = (32, 64, 64),
        hidden_dim: int = 256,
    ) -> None:
        super().__init__()
        c, h, w = _check_image_shape(image_shape, len(channels))
        layers: list[nn.Module] = []
        in_ch = c
        for out_ch in channels:
            layers += [nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1), nn.SiLU()]
            in_ch = out_ch
        self.features = nn.Sequential(*layers, nn.Flatten())
        flat = in_ch * (h // 2 ** len(channels)) * (w // 2 ** len(channels))
        self.head = nn.Sequential(nn.Linear(flat, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, 2 * latent_dim))

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.head(self.features(images)).chunk(2, dim=-1)
        return mu, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)


class ImageDecoder(nn.Module):
    """Mirror of :class:`ImageEncoder`: ``[B, latent_dim]`` -> image means ``[B, C, H, W]``.

    The output layer is linear, not a sigmoid: with a Gaussian likelihood on mostly-black images a
    sigmoid saturates towards 0 and its vanishing gradient traps training on the "mean image"
    plateau. Clip to [0, 1] only for display.
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        latent_dim: int,
        channels: Sequence[int] = (32, 64, 64),
        hidden_dim: int = 256,
    ) -> None:
        super().__init__()
        c, h, w = _check_image_shape(image_shape, len(channels))
        rev = list(channels)[::-1]
        self._start = (rev[0], h // 2 ** len(channels), w // 2 ** len(channels))
        self.head = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, rev[0] * self._start[1] * self._start[2]), nn.SiLU()
        )
        layers: list[nn.Module] = []
        for in_ch, out_ch in zip(rev, rev[1:] + [c], strict=True):
            layers += [nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1), nn.SiLU()]
        layers.pop()  # linear output (see class docstring)
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.deconv(self.head(z).view(-1, *self._start))


class VectorEncoder(nn.Module):
    """MLP for a vector of values (a curve on a fixed grid): ``[B, L]`` -> ``(mu, logvar)`` each ``[B, latent_dim]``."""

    def __init__(self, length: int, latent_dim: int, hidden_dims: Sequence[int] = (128, 128)) -> None:
        super().__init__()
        dims = [int(length), *hidden_dims]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            layers += [nn.Linear(a, b), nn.SiLU()]
        self.body = nn.Sequential(*layers, nn.Linear(dims[-1], 2 * latent_dim))

    def forward(self, curves: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.body(curves).chunk(2, dim=-1)
        return mu, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)


class VectorDecoder(nn.Module):
    """MLP decoder: ``[B, latent_dim]`` -> vector (curve) means ``[B, L]`` (standardised units)."""

    def __init__(self, length: int, latent_dim: int, hidden_dims: Sequence[int] = (128, 128)) -> None:
        super().__init__()
        dims = [int(latent_dim), *list(hidden_dims)[::-1]]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            layers += [nn.Linear(a, b), nn.SiLU()]
        self.body = nn.Sequential(*layers, nn.Linear(dims[-1], int(length)))

    def forward(self, z: Tensor) -> Tensor:
        return self.body(z)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# the curve's networks are the vector MLPs (the names earlier code imports)
CurveEncoder, CurveDecoder = VectorEncoder, VectorDecoder

__all__ = ["ImageEncoder", "ImageDecoder", "VectorEncoder", "VectorDecoder", "CurveEncoder", "CurveDecoder", "count_parameters"]
