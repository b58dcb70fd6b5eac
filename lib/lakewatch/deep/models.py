"""Window autoencoders in PyTorch: input and output ``(batch, channels, window)``.

* ``cnn_ae``: 1D convolutions over time (channels are the input channels), a dense bottleneck of ``latent``;
* ``lstm_ae``: an LSTM encoder whose last hidden state goes through the bottleneck, and an LSTM decoder;
* ``vae``: the convolutional encoder/decoder with a Gaussian latent and the beta-VAE loss
  (reconstruction + beta * KL); at inference it reconstructs from the latent mean, so it is deterministic.

The same classes serve univariate series (``channels=1``) and multivariate entities. :func:`window_errors`
is the reconstruction statistic that training calibration and the detector share.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from lakewatch.errors import ModelSpecError

MODEL_KINDS = ("cnn_ae", "lstm_ae", "vae")
_KERNEL = 5


@dataclass(frozen=True)
class ModelSpec:
    """What is needed to rebuild a model before loading its weights."""

    kind: str = "cnn_ae"
    window: int = 64
    channels: int = 1
    latent: int = 8
    hidden: int = 16

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ModelSpecError(f"ModelSpec kind {self.kind!r} is not a model; expected one of {MODEL_KINDS}")
        for name in ("window", "channels", "latent", "hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ModelSpecError(f"ModelSpec {name}={value!r}; expected a positive integer")
        if self.window < 4:
            raise ModelSpecError(f"ModelSpec window={self.window} is too short; expected at least 4 rows")

    def to_dict(self) -> dict:
        """A JSON-ready description."""
        return asdict(self)


class WindowAutoencoder(nn.Module):
    """Base class: ``forward`` reconstructs a batch; ``training_loss`` is what the optimiser minimises."""

    def training_loss(self, x: torch.Tensor, beta: float) -> torch.Tensor:
        """Mean squared reconstruction error per element, averaged over the batch."""
        return torch.mean((self(x) - x) ** 2)


class _ConvEncoder(nn.Module):
    def __init__(self, spec: ModelSpec, out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(spec.channels, spec.hidden, _KERNEL, padding=_KERNEL // 2), nn.ReLU(),
            nn.Conv1d(spec.hidden, spec.hidden, _KERNEL, stride=2, padding=_KERNEL // 2), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(spec.hidden * ((spec.window + 1) // 2), out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _ConvDecoder(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.half = (spec.window + 1) // 2
        self.hidden = spec.hidden
        self.expand = nn.Linear(spec.latent, spec.hidden * self.half)
        self.body = nn.Sequential(
            nn.ReLU(), nn.Upsample(size=spec.window, mode="linear", align_corners=False),
            nn.Conv1d(spec.hidden, spec.hidden, _KERNEL, padding=_KERNEL // 2), nn.ReLU(),
            nn.Conv1d(spec.hidden, spec.channels, 1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.expand(z).view(-1, self.hidden, self.half))


class ConvAutoencoder(WindowAutoencoder):
    """1D-CNN autoencoder of windows."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.encoder = _ConvEncoder(spec, spec.latent)
        self.decoder = _ConvDecoder(spec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct ``x`` ``(batch, channels, window)``."""
        return self.decoder(self.encoder(x))


class LstmAutoencoder(WindowAutoencoder):
    """LSTM encoder-decoder of windows (the latent code is repeated over the window for the decoder)."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.window = spec.window
        self.encoder = nn.LSTM(spec.channels, spec.hidden, batch_first=True)
        self.to_latent = nn.Linear(spec.hidden, spec.latent)
        self.from_latent = nn.Linear(spec.latent, spec.hidden)
        self.decoder = nn.LSTM(spec.hidden, spec.hidden, batch_first=True)
        self.output = nn.Linear(spec.hidden, spec.channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct ``x`` ``(batch, channels, window)``."""
        _, (h, _) = self.encoder(x.transpose(1, 2))
        z = self.to_latent(h[-1])
        seed = self.from_latent(z).unsqueeze(1).expand(-1, self.window, -1)
        out, _ = self.decoder(seed)
        return self.output(out).transpose(1, 2)


class ConvVae(WindowAutoencoder):
    """Convolutional variational autoencoder with the beta-VAE loss."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.latent = spec.latent
        self.encoder = _ConvEncoder(spec, 2 * spec.latent)
        self.decoder = _ConvDecoder(spec)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of the latent Gaussian."""
        stats = self.encoder(x)
        return stats[:, : self.latent], stats[:, self.latent :].clamp(-10.0, 10.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct ``x`` from the latent mean (deterministic)."""
        mean, _ = self.encode(x)
        return self.decoder(mean)

    def training_loss(self, x: torch.Tensor, beta: float) -> torch.Tensor:
        """Per-element reconstruction error of a sampled latent plus ``beta`` times the KL divergence to N(0, I)
        (divided by the elements per window, so it stays comparable with the plain autoencoders' loss)."""
        mean, logvar = self.encode(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        recon = torch.mean((self.decoder(z) - x) ** 2)
        kl = -0.5 * torch.sum(1.0 + logvar - mean**2 - torch.exp(logvar), dim=1).mean()
        return recon + beta * kl / (x.shape[1] * x.shape[2])


def build_model(spec: ModelSpec) -> WindowAutoencoder:
    """A freshly initialised model for ``spec``."""
    cls = {"cnn_ae": ConvAutoencoder, "lstm_ae": LstmAutoencoder, "vae": ConvVae}[spec.kind]
    return cls(spec)


def window_errors(model: WindowAutoencoder, x: np.ndarray, tail: int = 1, chunk: int = 2048) -> np.ndarray:
    """Reconstruction error of each scaled window ``x`` ``(m, channels, window)``: the mean squared error over
    the last ``tail`` rows and every channel, computed in the model's dtype (the detector uses float64)."""
    if len(x) == 0:
        return np.zeros(0, dtype=np.float64)
    param = next(model.parameters())
    out = np.empty(len(x), dtype=np.float64)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(x), chunk):
            batch = torch.as_tensor(x[start : start + chunk], dtype=param.dtype, device=param.device)
            diff = (model(batch) - batch)[:, :, -tail:]
            out[start : start + len(batch)] = torch.mean(diff**2, dim=(1, 2)).double().cpu().numpy()
    model.train(was_training)
    return out
