"""The paper's convolutional VAE (section 3.3), one readable definition.

Encoder: 4 stride-2 convs (kernels 3,3,3,2) take 28×28 to a 1×1×512 volume; two linear heads give
the mean and log-variance of q(z|x). Decoder: linear to 512, unflatten to 1×1×512, 4 stride-2
transposed convs (kernels 2,3,4,5). Those kernels give 1→2→5→12→27; the last layer's
``output_padding=1`` makes it 28×28 from the layers themselves (the published code padded a zero
row and column onto a 27×27 output instead).

``VAEConfig`` also describes the shipped ``--config default``: kernels 4,3,4,2 / 2,3,4,6, which
let the encoder see and the decoder paint every pixel, and a residual encoder head of two
512-wide ReLU layers beside the linear heads (docs/model.md).
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ProjectError

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model.json"
IMAGE_SIZE = 28

# Options of measured experiments that were not adopted and whose code was removed; their results
# are in reports/notes.md and commit RETIRED_IN still has the code. A model.json that records one at
# its neutral value loads as usual; any other value is refused with the flag's name.
RETIRED_IN = "0aa74ff"
RETIRED_ARCHITECTURE = {  # field: (the flag that set it, is the recorded value neutral?)
    "decoder_refine": ("--decoder-refine", lambda value, arch: not value),
    "decoder_head": ("--decoder-head", lambda value, arch: not value),
    "encoder_head_residual": ("--no-encoder-head-residual",
                              lambda value, arch: bool(value) == bool(arch.get("encoder_head"))),
}


class ArchitectureError(ProjectError, ValueError):
    """An architecture that cannot be built (kernels that miss the image size, an empty layer); one line."""


def retired(flag: str) -> str:
    """The end of the one-line error for a model or run that used a retired option."""
    return f"trained with {flag}, an experiment that was not adopted; commit {RETIRED_IN} still has its code"


@dataclass
class VAEConfig:
    latent_dim: int = 128
    encoder_channels: tuple = (64, 128, 256, 512)
    encoder_kernels: tuple = (3, 3, 3, 2)
    decoder_channels: tuple = (256, 128, 64)   # then `channels` output channels
    decoder_kernels: tuple = (2, 3, 4, 5)
    # Widths of fully connected ReLU layers beside the paper's linear μ, log σ² heads (empty = the
    # paper's encoder). Their output is added through two linear maps that start at zero, so
    # training starts from the paper's encoder; placed in series instead, they trained far more
    # slowly (reports/notes.md, "A residual encoder head").
    encoder_head: tuple = ()
    # The images' side and channels (1 grey, 3 RGB): Fashion-MNIST's by default; a folder of your own
    # images may be 32 or 64 pixels and colour (training/folder.py, fit/presets.py's SCALED).
    image_size: int = IMAGE_SIZE
    channels: int = 1

    def __post_init__(self):
        for name in ("encoder_channels", "encoder_kernels", "decoder_channels", "decoder_kernels",
                     "encoder_head"):
            setattr(self, name, tuple(int(v) for v in getattr(self, name)))
        if any(w < 1 for w in self.encoder_head):
            raise ArchitectureError(f"encoder_head widths must be ≥ 1, got {list(self.encoder_head)}")
        if len(self.encoder_channels) != len(self.encoder_kernels):
            raise ArchitectureError("encoder_channels and encoder_kernels must have the same length")
        if len(self.decoder_channels) + 1 != len(self.decoder_kernels):
            raise ArchitectureError("decoder_kernels needs one more entry than decoder_channels")
        if self.latent_dim < 1:
            raise ArchitectureError(f"latent_dim must be ≥ 1, got {self.latent_dim}")
        self.image_size, self.channels = int(self.image_size), int(self.channels)
        if self.channels not in (1, 3):
            raise ArchitectureError(f"channels must be 1 (grey) or 3 (RGB), got {self.channels}")
        if self.image_size < 2:
            raise ArchitectureError(f"image_size must be ≥ 2, got {self.image_size}")

    @classmethod
    def from_dict(cls, d: dict) -> VAEConfig:
        """The config a model.json records; retired options must hold their neutral value."""
        d = dict(d)
        for name, (flag, neutral) in RETIRED_ARCHITECTURE.items():
            if name in d and not neutral(d.pop(name), d):
                raise ArchitectureError(f"{name}: {retired(flag)}")
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ArchitectureError(f"unknown architecture fields {sorted(unknown)}")
        return cls(**d)

    def decoder_summary(self) -> str:
        """One line for reports and the model card: "paper's (256×128×64)" or "256×128×64 channels,
        kernels 2,3,4,6"."""
        widths = "×".join(map(str, self.decoder_channels))
        papers = (VAEConfig.decoder_channels, VAEConfig.decoder_kernels)
        if (self.decoder_channels, self.decoder_kernels) == papers:
            return f"paper's ({widths})"
        return f"{widths} channels, kernels {','.join(map(str, self.decoder_kernels))}"

    def encoder_summary(self) -> str:
        """One line for reports and the model card: "paper's (linear heads on 512 conv features)"
        or "paper's linear heads on 512 conv features + ReLU → 512 → ReLU → heads that start at 0"."""
        feat = self.encoder_channels[-1]
        if not self.encoder_head:
            return f"paper's (linear heads on {feat} conv features)"
        layers = " → ".join(f"ReLU → {w}" for w in self.encoder_head)
        return f"paper's linear heads on {feat} conv features + {layers} → ReLU → heads that start at 0"

    def encoder_view(self) -> int:
        """Side of the top-left square of the image that reaches the latent. Unpadded stride-2
        convs drop the input rows a kernel cannot start on: the paper's kernels (3,3,3,2) see
        rows and columns 0-22 only, 20% of the ink; (4,3,4,2) see all 28."""
        seen = self.image_size
        for k in self.encoder_kernels:
            seen = _conv_out(seen, k)
        for k in reversed(self.encoder_kernels):
            seen = (seen - 1) * 2 + k
        return seen

    def decoder_painted(self) -> int:
        """Side of the top-left square of the output that depends on z. ``output_padding`` adds a
        row and column that only the bias reaches: the paper's kernels (2,3,4,5) paint 27×27 and
        leave row and column 27 one constant; (2,3,4,6) paint all 28."""
        size = 1
        for k in self.decoder_kernels:
            size = (size - 1) * 2 + k
        return min(size, self.image_size)

    def view_summary(self) -> str:
        """E.g. "encoder sees 23×23 of the 28×28 pixels, decoder paints 27×27"."""
        seen, painted, side = self.encoder_view(), self.decoder_painted(), self.image_size
        if seen == painted == side:
            return f"encoder sees and decoder paints all {side}×{side} pixels"
        return f"encoder sees {seen}×{seen} of the {side}×{side} pixels, decoder paints {painted}×{painted}"

    def to_dict(self) -> dict:
        """The architecture as model.json records it. Fashion-MNIST's image size and channel are left
        out, so a model of it records exactly what models did before other images existed."""
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}
        for name, default in (("image_size", IMAGE_SIZE), ("channels", 1)):
            if out[name] == default:
                del out[name]
        return out


class GemmConv2d(nn.Conv2d):
    """A convolution whose kernel covers its whole input (k×k kernel, k×k map, one output
    position) is a matrix multiply; evaluated as one it runs ~5× faster on CPU than oneDNN's
    convolution for this shape. Same parameters, same result; other shapes are ordinary convs."""

    def forward(self, x):
        if tuple(x.shape[-2:]) == self.kernel_size and self.padding == (0, 0):
            return F.linear(x.flatten(1), self.weight.flatten(1), self.bias)[..., None, None]
        return super().forward(x)


class GemmConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution of a 1×1 map is a matrix multiply (each input channel paints one
    k×k kernel); evaluated as one, as in ``GemmConv2d``. Same parameters, same result.

    Without gradients (evaluation, the explorer, embedding) two more shapes of this decoder leave
    oneDNN's kernel, which is slow for them on CPU (bench/decoder_speed.py, AMD EPYC without AMX,
    float32): a small input map (≤ 2×2: 256→128 channels, 2×2 → 5×5) as one matrix multiply whose
    k² column blocks are added into the strided output positions (1.5×), and a layer painting a
    single channel (64→1, 12×12 → 28×28) with PyTorch's im2col kernel (2×; 2 threads, 4,000
    latents). Training keeps the oneDNN path."""
    fast_inference = True   # class switch, so the bench can time the plain path in the same process

    def forward(self, x, output_size=None):
        if tuple(x.shape[-2:]) == (1, 1) and self.padding == (0, 0) and self.output_padding == (0, 0):
            kh, kw = self.kernel_size
            w = self.weight.flatten(1)  # in × (out·kh·kw)
            y = (torch.mm(x.flatten(1), w) if self.bias is None else
                 torch.addmm(self.bias.repeat_interleave(kh * kw), x.flatten(1), w))
            return y.view(len(x), self.out_channels, kh, kw)
        eligible = (self.padding == (0, 0) and self.dilation == (1, 1) and self.groups == 1
                    and output_size is None and x.dtype == torch.float32 and x.dim() == 4)
        if self.fast_inference and eligible and not torch.is_grad_enabled():
            if self.out_channels == 1:
                return torch.ops.aten.slow_conv_transpose2d(x, self.weight, self.kernel_size, self.bias,
                                                            self.stride, self.padding, self.output_padding)
            if x.shape[-2] * x.shape[-1] <= 4:
                return self._scatter_gemm(x)
        return super().forward(x, output_size)

    def _scatter_gemm(self, x):
        """y[:, :, s·i + a, s·j + b] += Σ_c x[:, c, i, j] · W[c, :, a, b]: one (N·h·w) × C_in × (k²·C_out)
        product, then k² strided adds; the result is channels-last, which the next layer prefers."""
        n, cin, h, w = x.shape
        kh, kw = self.kernel_size
        (sh, sw), (ph, pw) = self.stride, self.output_padding
        cols = torch.mm(x.permute(0, 2, 3, 1).reshape(-1, cin),
                        self.weight.permute(0, 2, 3, 1).reshape(cin, -1))
        cols = cols.view(n, h, w, kh, kw, self.out_channels)
        hout, wout = (h - 1) * sh + kh + ph, (w - 1) * sw + kw + pw
        y = (self.bias.expand(n, hout, wout, self.out_channels).clone() if self.bias is not None
             else x.new_zeros(n, hout, wout, self.out_channels))
        for a in range(kh):
            for b in range(kw):
                y[:, a:a + sh * (h - 1) + 1:sh, b:b + sw * (w - 1) + 1:sw] += cols[:, :, :, a, b]
        return y.permute(0, 3, 1, 2)


def _conv_out(size: int, kernel: int, stride: int = 2) -> int:
    return (size - kernel) // stride + 1


def _relu_layers(width: int, widths: tuple) -> tuple[list[nn.Module], int]:
    """Linear → ReLU for each of ``widths`` in turn, from ``width`` inputs; and the output width."""
    layers = []
    for w in widths:
        layers += [nn.Linear(width, w), nn.ReLU()]
        width = w
    return layers, width


class VAE(nn.Module):
    def __init__(self, config: VAEConfig | None = None):
        super().__init__()
        self.config = config = config or VAEConfig()
        layers, in_ch, size = [], config.channels, config.image_size
        for i, (ch, k) in enumerate(zip(config.encoder_channels, config.encoder_kernels, strict=True)):
            layers.append(GemmConv2d(in_ch, ch, k, stride=2))
            if i < len(config.encoder_channels) - 1:
                layers.append(nn.ReLU())
            in_ch, size = ch, _conv_out(size, k)
        if size != 1:
            left = f"a {size}×{size} map" if size > 1 else "no map at all"
            raise ArchitectureError(f"encoder kernels {config.encoder_kernels} leave {left}, expected 1×1")
        self.encoder = nn.Sequential(*layers, nn.Flatten())
        feat = config.encoder_channels[-1]
        # The order in which layers are created sets the weights a seed gives them: keep it.
        head, width = _relu_layers(feat, config.encoder_head)
        # ReLU first, since the last conv has none; empty (no parameters) for the paper's heads.
        self.encoder_head = nn.Sequential(*([nn.ReLU()] if head else []), *head)
        if head:
            self.head_to_mu = nn.Linear(width, config.latent_dim, bias=False)
            self.head_to_logvar = nn.Linear(width, config.latent_dim, bias=False)
            for layer in (self.head_to_mu, self.head_to_logvar):
                nn.init.zeros_(layer.weight)
        self.to_mu = nn.Linear(feat, config.latent_dim)
        self.to_logvar = nn.Linear(feat, config.latent_dim)

        self.from_latent = nn.Linear(config.latent_dim, feat)
        layers, in_ch, size = [], feat, 1
        out_channels = config.decoder_channels + (config.channels,)
        for i, (ch, k) in enumerate(zip(out_channels, config.decoder_kernels, strict=True)):
            natural = (size - 1) * 2 + k
            last = i == len(out_channels) - 1
            pad = config.image_size - natural if last else 0
            if not 0 <= pad < 2:  # output_padding must be smaller than the stride
                raise ArchitectureError(f"decoder kernels {config.decoder_kernels} give {natural}×{natural}, "
                                        f"cannot reach {config.image_size}×{config.image_size}")
            layers.append(GemmConvTranspose2d(in_ch, ch, k, stride=2, output_padding=pad))
            if not last:
                layers.append(nn.ReLU())
            in_ch, size = ch, natural + pad
        self.decoder = nn.Sequential(*layers)

    # --- the contract: encode(x) -> (mu, logvar), decode(z) -> x_hat in [0, 1] -------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        # The order of these operations sets the float rounding of the backward pass: the shipped
        # model was trained with this one.
        if self.config.encoder_head:
            g = self.encoder_head(h)
            return self.to_mu(h) + self.head_to_mu(g), self.to_logvar(h) + self.head_to_logvar(g)
        return self.to_mu(h), self.to_logvar(h)

    def decoder_input(self, z: torch.Tensor) -> torch.Tensor:
        """The 1×1 feature map the transposed convs start from."""
        return self.from_latent(z).view(-1, self.config.encoder_channels[-1], 1, 1)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.decoder_input(z))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z))

    @staticmethod
    def reparameterize(mu, logvar, generator: torch.Generator | None = None):
        """z = μ + exp(½ log σ²)·ε, ε ~ N(0, I) (paper, appendix 6.4). ε is drawn where ``generator``
        lives (the CPU, for the seeded runs) and moved to μ's device: the same seed, the same ε."""
        where = generator.device if generator is not None else mu.device
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=where).to(mu.device)
        return mu + torch.exp(0.5 * logvar) * eps

    def forward(self, x, generator: torch.Generator | None = None):
        """Returns decoder logits, mu, logvar for a reparameterised sample of z."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator)
        return self.decode_logits(z), mu, logvar

    # --- save_pretrained / from_pretrained: safetensors weights beside a JSON config --------
    def save_pretrained(self, directory: str | os.PathLike, info: dict | None = None) -> None:
        from .checkpoint import save_weights_and_config
        directory = Path(directory)
        save_weights_and_config(self, directory / WEIGHTS_FILE, directory / CONFIG_FILE,
                                {"format": "fashion-mnist-vae", "architecture": self.config.to_dict(),
                                 **(info or {})})


class ModelLoadError(ProjectError):
    """A model directory is missing, corrupt, unsafe or inconsistent; the message is one line."""


def read_config(directory: str | os.PathLike) -> dict:
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise ModelLoadError(f"{path}: not found — is {directory} a model directory?")
    try:
        meta = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelLoadError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(meta, dict) or "architecture" not in meta:
        raise ModelLoadError(f"{path}: has no 'architecture' entry")
    return meta


PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".torch", ".bin", ".ckpt")


def load_model(directory: str | os.PathLike, check_hash: bool = True, device=None) -> VAE:
    """Load a model directory (model.safetensors + model.json), never unpickling anything, onto
    ``device`` (default: the CPU)."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelLoadError(f"{directory}: not a directory")
    meta = read_config(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        stray = sorted(p.name for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
        hint = f" (found {', '.join(stray)}: pickle files are refused, they can run code)" if stray else ""
        raise ModelLoadError(f"{weights}: not found{hint}")
    payload = weights.read_bytes()
    if check_hash:
        from .checkpoint import matching_config
        matched = matching_config(directory / CONFIG_FILE, payload, meta)
        if matched is None:
            raise ModelLoadError(f"{weights}: does not match the weights_sha256 in {CONFIG_FILE} (corrupt or "
                                 "replaced)")
        meta = matched  # the pending config, when a kill interrupted a checkpoint write
    try:
        config = VAEConfig.from_dict(meta["architecture"])
        model = VAE(config)
    except (TypeError, ValueError) as e:
        raise ModelLoadError(f"{directory / CONFIG_FILE}: invalid architecture ({e})") from None
    try:
        state = load_safetensors(payload)
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise ModelLoadError(f"{weights}: not a valid safetensors file ({e})") from None
    stored = meta.get("weights_dtype", "float32")
    odd = sorted({str(t.dtype).removeprefix("torch.") for t in state.values()} - {stored})
    if odd:
        raise ModelLoadError(f"{weights}: holds {', '.join(odd)} tensors but {CONFIG_FILE} says "
                             f"weights_dtype {stored}")
    if any(not torch.isfinite(t).all() for t in state.values() if t.is_floating_point()):
        raise ModelLoadError(f"{weights}: holds non-finite values (inf or NaN)")
    try:
        model.load_state_dict(state, strict=True)   # copies (and so widens) into the float32 parameters
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        detail = next((line.strip() for line in first[1:] if line.strip()), first[0] if first else "mismatch")
        raise ModelLoadError(f"{weights}: weights do not match the architecture in {CONFIG_FILE} "
                             f"({detail})") from None
    model.eval()
    model.info = meta
    return model if device is None else model.to(device)
