"""A plain U-Net in PyTorch: the learned segmenter's network."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: The binomial filter an anti-aliased pooling blurs with before it keeps every other pixel.
BLUR_TAPS = (1.0, 2.0, 1.0)


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class BlurPool(nn.Module):
    """Halve the resolution without aliasing: a 2 x 2 maximum at every pixel, a binomial blur, every other pixel.

    A plain 2 x 2 max pooling keeps one phase of its input, so what the layers
    below it see changes when the image starts a pixel later; blurring before the
    subsampling (Zhang, "Making convolutional networks shift-invariant again",
    ICML 2019) makes the result vary smoothly with that offset. The filter is
    fixed (a buffer, not a weight) and applied to every channel alone.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        taps = torch.tensor(BLUR_TAPS)
        kernel = taps[:, None] * taps[None, :]
        kernel = kernel / kernel.sum()
        self.kernel: torch.Tensor
        self.register_buffer("kernel", kernel.expand(channels, 1, 3, 3).contiguous())
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (H, W) -> (H - 1, W - 1) -> (H / 2, W / 2); output pixel j is centred where a plain pooling's is.
        x = F.max_pool2d(x, 2, stride=1)
        return F.conv2d(x, self.kernel, stride=2, padding=1, groups=self.channels)


class UNet(nn.Module):
    """U-Net with ``depth`` resolution levels, ``base`` channels at the top, doubled per level.

    Input (B, 1, H, W) with H and W divisible by ``2 ** (depth - 1)``; output
    (B, 3, H, W): the logits of the foreground and boundary probabilities and of
    the normalised distance map (see :class:`WithSigmoid` for the exported form).
    With ``antialias`` every down-sampling is a :class:`BlurPool` instead of a
    plain 2 x 2 max pooling.
    """

    def __init__(self, *, base: int = 16, depth: int = 4, out_channels: int = 3, antialias: bool = False) -> None:
        super().__init__()
        widths = [base * 2**k for k in range(depth)]
        self.down = nn.ModuleList()
        c_in = 1
        for w in widths:
            self.down.append(_block(c_in, w))
            c_in = w
        self.pool = nn.MaxPool2d(2)
        self.blur = nn.ModuleList([BlurPool(w) for w in widths[:-1]]) if antialias else None
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for w_low, w_high in zip(widths[::-1][:-1], widths[::-1][1:]):
            self.up.append(nn.ConvTranspose2d(w_low, w_high, 2, stride=2))
            self.merge.append(_block(2 * w_high, w_high))
        self.head = nn.Conv2d(widths[0], out_channels, 1)
        self.depth = depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for k, block in enumerate(self.down):
            x = block(x)
            if k < self.depth - 1:
                skips.append(x)
                x = self.pool(x) if self.blur is None else self.blur[k](x)
        for up, merge in zip(self.up, self.merge):
            x = up(x)
            x = merge(torch.cat([x, skips.pop()], dim=1))
        return self.head(x)


class WithSigmoid(nn.Module):
    """The network as exported: maps in [0, 1] instead of logits."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))
