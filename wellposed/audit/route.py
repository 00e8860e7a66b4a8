"""Route a decoder detector through a convolution stack: dedicated channels, one tap per pixel.

Where the constructive spike's detector (:mod:`wellposed.audit.construct`) reaches a
``Linear`` layer whose output is reshaped into the input map of a stack of (transposed)
convolutions, the consumer's column cannot reconstruct one row through the stack's shared
kernels.  The route (docs/your-model.md, "The constructive spike") takes a few channels of each
map out of normal use and wires them as a *pixel shuffle*: in each layer a set of taps ``T``
whose images partition the output grid (``ConvTranspose2d(k=4, s=2, p=1)``: taps 1 and 2;
``Conv2d(k=3, p=1)``: the centre tap), each dedicated output channel reading ``|T|``
dedicated input channels, one tap each.  Then each output pixel's location reads exactly one
unit of the consumer (its column entry, offset ``OFFSET`` so that a ReLU passes both signs,
the offset taken back out of the location's bias), and one more dedicated channel per layer
(every tap of ``T``) moves the log-scale of a block of pixels.  The map from units to pixels
is read off the network numerically (:func:`_verify`), never assumed.  Where the consumer
reads the latent itself and is its own detector, its units carry values ``>= 0`` only, and
each location channel has a minus twin (``paired``), read with ``-1`` by the first layer.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from wellposed.audit.usermodel import loc_log_scale, no_validation

__all__ = ["LOC_TOL", "OFFSET", "Route", "plan_route"]

#: the pre-activation offset of the dedicated location units (a ReLU then passes both signs)
OFFSET = 10.0
#: the solved location's distance from the row, in units of its scale (a mismatch of at
#: most ``LOC_TOL^2 / 2`` nats a pixel)
LOC_TOL = 1e-2
#: normal channels each layer keeps at least
KEEP = 2
_CONV = (nn.Conv2d, nn.ConvTranspose2d)
_Conv = nn.Conv2d | nn.ConvTranspose2d
_PASS = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.SiLU,
    nn.GELU,
    nn.Mish,
    nn.Softplus,
    nn.Identity,
    nn.Dropout,
    nn.Unflatten,
)  # elementwise (or shape only); the route is verified numerically in any case


@dataclass
class Route:
    """A routed stack: ``free`` the consumer's rows that its column may use (location units,
    then scale units), ``pixel`` each location unit's pixel, ``blocks`` each scale unit's
    pixels, ``start`` the column's starting entries, ``dev`` each pixel's log-scale minus its
    block's mean, what was rewired, and (routed in twins) the minus twin of each location
    unit of ``free`` and the twin that caps each scale unit."""

    free: torch.Tensor
    pixel: torch.Tensor
    blocks: list[torch.Tensor]
    start: torch.Tensor
    dev: torch.Tensor
    rewired: str
    twins: torch.Tensor | None = None
    caps: torch.Tensor | None = None

    def residual(self, xi: torch.Tensor, k: float, out: object) -> torch.Tensor:
        """``[location - x_i, block means of log scale + k / 2]``."""
        pair = loc_log_scale(out)
        if pair is None:
            raise ValueError("the decoder's output has no location and scale")
        loc, ls = pair
        means = torch.stack([ls[b].mean() for b in self.blocks])
        return torch.cat([loc - xi.reshape(-1), means + 0.5 * k])

    def tolerance(self, k: float) -> torch.Tensor:
        """Location within :data:`LOC_TOL` of each pixel's scale, block means within
        ``1e-6``."""
        loc_tol = LOC_TOL * torch.exp(-0.5 * k + self.dev)
        return torch.cat([loc_tol, torch.full((len(self.blocks),), 1e-6, dtype=loc_tol.dtype)])


def _taps_1d(conv: _Conv, dim: int, n_in: int, n_out: int) -> list[int] | None:
    """The fewest taps along ``dim`` whose input-to-output maps are injective and whose
    images partition ``range(n_out)`` (every output reads exactly one input), or None."""
    s, p = int(conv.stride[dim]), int(conv.padding[dim])
    d, k = int(conv.dilation[dim]), int(conv.kernel_size[dim])
    maps: list[dict[int, int]] = []
    for t in range(k):
        m: dict[int, int] = {}
        for i in range(n_in):
            if isinstance(conv, nn.ConvTranspose2d):
                o = i * s - p + t * d
            else:
                o, r = divmod(i + p - t * d, s)
                o = o if r == 0 else -1
            if 0 <= o < n_out:
                m[i] = o
        maps.append(m)
    for size in range(1, k + 1):
        for taps in itertools.combinations(range(k), size):
            hit = [o for t in taps for o in maps[t].values()]
            if sorted(hit) == list(range(n_out)):
                return list(taps)
    return None


def _run(module: nn.Module, x: torch.Tensor, hooks: list[RemovableHandle]) -> None:
    """``module(x)`` without gradients or argument validation, its ``hooks`` removed after."""
    try:
        with torch.no_grad(), no_validation():
            module(x)
    finally:
        for h in hooks:
            h.remove()


def _stack(module: nn.Module, consumer: nn.Linear, probe: torch.Tensor) -> tuple[list[Any], str]:
    """The convolutions run after ``consumer``, with their input and output shapes (and the
    batch norm after one, if any); why not when a layer is not one the route can pass (an
    upsampling, a Linear, groups)."""
    calls: list[tuple[nn.Module, tuple[int, ...], tuple[int, ...]]] = []
    hooks = [
        m.register_forward_hook(
            lambda m, i, o: (
                calls.append((m, tuple(i[0].shape), tuple(o.shape)))
                if isinstance(o, torch.Tensor) and i and isinstance(i[0], torch.Tensor)
                else None
            )
        )
        for m in module.modules()
        if not list(m.children())
    ]
    _run(module, probe, hooks)
    after = next((j for j, c in enumerate(calls) if c[0] is consumer), None)
    if after is None:
        return [], "the consumer layer does not run"
    convs: list[Any] = []
    for m, shape_in, shape_out in calls[after + 1 :]:
        if isinstance(m, _CONV):
            if m.groups != 1 or m.padding_mode != "zeros" or isinstance(m.padding, str):
                return [], f"a {type(m).__name__} with groups, padding {m.padding!r} or mode"
            convs.append((m, shape_in, shape_out, None))
        elif isinstance(m, nn.BatchNorm2d) and convs:
            if not m.affine or m.running_mean is None or m.running_var is None:
                return [], "a BatchNorm2d without an affine map or running statistics"
            convs[-1] = (*convs[-1][:3], m)
        elif not isinstance(m, _PASS):
            return [], f"a {type(m).__name__} after the convolutions start"
    return (convs, "") if convs else ([], "no convolution reads the consumer")


def _weight(conv: _Conv, c_in: int, c_out: int) -> torch.Tensor:
    """The ``(kH, kW)`` kernel from input channel ``c_in`` to output channel ``c_out``."""
    w = conv.weight
    return w[c_in, c_out] if isinstance(conv, nn.ConvTranspose2d) else w[c_out, c_in]


def _isolate(conv: _Conv, ded_in: list[int], ded_out: list[int]) -> None:
    """Dedicated inputs feed nothing, dedicated outputs read nothing (bias 0)."""
    w = conv.weight
    tin, tout = torch.tensor(ded_in, dtype=torch.long), torch.tensor(ded_out, dtype=torch.long)
    if isinstance(conv, nn.ConvTranspose2d):
        w[tin] = 0.0
        w[:, tout] = 0.0
    else:
        w[:, tin] = 0.0
        w[tout] = 0.0
    if conv.bias is not None and ded_out:
        conv.bias[tout] = 0.0


def _statistics(module: nn.Module, convs: list[Any], cloud: torch.Tensor) -> list[Any]:
    """Each convolution's input channels' mean and standard deviation over ``cloud`` (the
    other rows' latents) and the grid: what a dedicated channel's normal content was."""
    seen: dict[int, torch.Tensor] = {}
    hooks = [
        conv.register_forward_hook(lambda m, i, o, j=j: seen.update({j: i[0].detach()}))
        for j, (conv, *_) in enumerate(convs)
    ]
    _run(module, cloud, hooks)
    return [(seen[j].mean((0, 2, 3)), seen[j].std((0, 2, 3))) for j in range(len(convs))]


def _least_used(conv: _Conv, n: int, spread: torch.Tensor) -> list[int] | None:
    """``n`` input channels of ``conv`` whose variation reaches the output least (their
    spread over the rows times their kernels' norm), keeping :data:`KEEP`; None when there
    are too few."""
    w = conv.weight if isinstance(conv, nn.ConvTranspose2d) else conv.weight.transpose(0, 1)
    use = spread * w.flatten(1).norm(dim=1)
    if n + KEEP > use.numel():
        return None
    return [int(j) for j in torch.argsort(use)[:n]]


def _absorb(conv: _Conv, ded: list[int], mean: torch.Tensor, shape_in: tuple[int, ...]) -> None:
    """The dedicated input channels' mean content, as ``conv`` spread it over its output
    grid, averaged into the output channels' biases (they lose only its variation)."""
    if conv.bias is None:
        return
    x = torch.zeros((1, *shape_in[-3:]), dtype=conv.weight.dtype)
    x[0, ded] = mean[ded, None, None]
    moved = conv(x) - conv(torch.zeros_like(x))
    conv.bias += moved.mean((0, 2, 3))


def plan_route(
    module: nn.Module,
    consumer: nn.Linear,
    probe: torch.Tensor,
    cloud: torch.Tensor,
    paired: bool = False,
) -> tuple[Route | None, str]:
    """Wire the stack after ``consumer`` (changed in place; the channels whose content on
    the other rows' latents ``cloud`` varies least) and read the route off it at ``probe``.
    ``paired``: the consumer's dedicated units carry values >= 0 only (they are the
    detector themselves, :class:`wellposed.audit.columns.LatentRewire`), so each location
    channel has a plus and a minus twin, taken apart by the first convolution."""
    convs, why = _stack(module, consumer, probe)
    if not convs:
        return None, why
    taps = []
    for conv, shape_in, shape_out, _ in convs:
        ty = _taps_1d(conv, 0, shape_in[-2], shape_out[-2])
        tx = _taps_1d(conv, 1, shape_in[-1], shape_out[-1])
        if ty is None or tx is None:
            return None, f"no taps of {type(conv).__name__} partition its output grid"
        taps.append(list(itertools.product(ty, tx)))
    with torch.no_grad():
        stats = _statistics(module, convs, cloud)
        return _wire(module, consumer, probe, convs, taps, stats, paired)


def _wire(
    module: nn.Module,
    consumer: nn.Linear,
    probe: torch.Tensor,
    convs: list[Any],
    taps: list[list[tuple[int, int]]],
    stats: list[Any],
    paired: bool,
) -> tuple[Route | None, str]:
    """:func:`plan_route`'s wiring: channels chosen, kernels set, output channels found."""
    L = len(convs)
    need = [1] * (L + 1)  # location channels at each conv's input (and the output's 1)
    for j in range(L - 1, -1, -1):
        need[j] = len(taps[j]) * need[j + 1] * (2 if paired and j == 0 else 1)
    chans: list[list[int]] = []  # dedicated inputs of each conv: location ones, then scale
    nv = [2 if paired and j == 0 else 1 for j in range(L)]  # scale channels (and twin)
    for j, (conv, *_) in enumerate(convs):
        got = _least_used(conv, need[j] + nv[j], stats[j][1])
        if got is None:
            return None, (
                f"{type(conv).__name__} {j + 1} has too few channels for a pixel shuffle "
                f"({need[j] + nv[j]} dedicated)"
            )
        chans.append(got)
    lv_out, sign, why = _output_channels(module, convs[-1][0], probe)
    if lv_out is None:
        return None, why
    for j, (conv, shape_in, _, bn) in enumerate(convs):
        out = chans[j + 1] if j + 1 < L else []
        _absorb(conv, chans[j], stats[j][0], shape_in)
        _isolate(conv, chans[j], out)
        if bn is not None:  # the dedicated channels pass a batch norm unchanged
            ded = torch.tensor(out, dtype=torch.long)
            bn.weight[ded] = torch.sqrt(bn.running_var[ded] + bn.eps)
            bn.bias[ded] = bn.running_mean[ded]
        loc_in, v_in = chans[j][: -nv[j]], chans[j][-nv[j] :]
        twins = 2 if paired and j == 0 else 1  # plus and minus twins read with +1 and -1
        for q in range(need[j + 1]):
            tgt = out[q] if out else lv_out[0]
            for t, (ty, tx) in enumerate(taps[j]):
                for z in range(twins):
                    _weight(conv, loc_in[(q * len(taps[j]) + t) * twins + z], tgt)[ty, tx] = (
                        1.0 - 2.0 * z
                    )
            if paired and j == 0 and out and conv.bias is not None:
                conv.bias[tgt] = OFFSET  # the offset enters after the twins' difference
        for z, ch in enumerate(v_in):  # a scale twin caps the scale unit: their difference
            for ty, tx in taps[j]:
                weight = (1.0 - 2.0 * z) * (1.0 if out else sign)
                _weight(conv, ch, out[-1] if out else lv_out[1])[ty, tx] = weight
    last = convs[-1][0]
    if last.bias is not None and not (paired and L == 1):
        last.bias[lv_out[0]] -= OFFSET
    return _verify(module, consumer, probe, convs[0][1], chans[0], paired)


def _output_channels(
    module: nn.Module, last: _Conv, probe: torch.Tensor
) -> tuple[tuple[int, int] | None, float, str]:
    """``((location channel, log-scale channel), sign, why)``: the last convolution's output
    channels that move the location alone and the log-scale alone (read by moving each bias),
    and the sign that lowers the log-scale."""
    if last.bias is None:
        return None, 0.0, "the last convolution has no bias"
    base = loc_log_scale(module(probe))
    if base is None:
        return None, 0.0, "the decoder's output has no location and scale"
    loc_c, ls_c, sign = [], [], 0.0
    for c in range(last.bias.numel()):
        was = last.bias[c].clone()
        last.bias[c] += 1e-3
        moved = loc_log_scale(module(probe))
        last.bias[c] = was  # exactly: x + h - h is not always x
        assert moved is not None
        dl, ds = moved[0] - base[0], moved[1] - base[1]
        if bool((dl != 0).any()) and not bool((ds != 0).any()):
            loc_c.append(c)
        elif bool((ds != 0).any()) and not bool((dl != 0).any()):
            ls_c.append(c)
            sign = -1.0 if float(ds.sum()) > 0 else 1.0
    if len(loc_c) != 1 or len(ls_c) != 1:
        return (
            None,
            0.0,
            ("the last convolution's channels are not one location and one log-scale channel"),
        )
    return (loc_c[0], ls_c[0]), sign, ""


def _verify(
    module: nn.Module,
    consumer: nn.Linear,
    probe: torch.Tensor,
    shape_in: tuple[int, ...],
    first: list[int],
    paired: bool,
) -> tuple[Route | None, str]:
    """Move each dedicated unit of the consumer and read which pixels follow: every location
    unit moves one location pixel and no scale, the pixels a permutation (for each twin, in
    its direction); every scale unit moves a block of log-scales and no location, the blocks
    a partition."""
    C, H, W = shape_in[-3:]
    if consumer.out_features != C * H * W:
        return None, "the consumer's output is not the first convolution's input map"
    nv = 2 if paired else 1
    loc_units = [c * H * W + p for c in first[:-nv] for p in range(H * W)]
    v_units = [c * H * W + p for c in first[-nv:] for p in range(H * W)]
    every = torch.tensor(loc_units + v_units)
    consumer.weight[every] = 0.0
    consumer.bias[every] = 0.0
    consumer.bias[torch.tensor(loc_units)] = 0.0 if paired else OFFSET
    units = torch.tensor(loc_units + v_units[: H * W])  # a cap moves nothing alone
    n = units.numel()
    bump = torch.zeros(n + 1, consumer.out_features, dtype=consumer.weight.dtype)
    bump[torch.arange(1, n + 1), units] = 1.0
    if paired:  # each scale unit on (2), then with its cap on (1) as well
        on = torch.zeros(2 * H * W, consumer.out_features, dtype=bump.dtype)
        pos = torch.arange(H * W)
        on[pos, units[-H * W :]] = on[H * W + pos, units[-H * W :]] = 2.0
        on[H * W + pos, torch.tensor(v_units[H * W :])] = 1.0
        bump = torch.cat([bump, on])
    rows = bump.shape[0]
    hook = consumer.register_forward_hook(lambda m, i, o: o + bump.reshape(o.shape))
    try:
        pair = loc_log_scale(module(probe.expand(rows, -1)))
    finally:
        hook.remove()
    if pair is None:
        return None, "the decoder's output has no location and scale"
    D = pair[0].numel() // rows
    loc, ls = pair[0].reshape(rows, D), pair[1].reshape(rows, D)
    capped = ls[n + 1 + H * W :] - ls[n + 1 : n + 1 + H * W] if paired else None
    loc, ls = loc[: n + 1], ls[: n + 1]
    dl, ds = loc[1:] != loc[0], ls[1:] != ls[0]
    nl = len(loc_units)
    pixel = dl[:nl].float().argmax(1)
    ok = bool((dl[:nl].sum(1) == 1).all() and not ds[:nl].any() and not dl[nl:].any())
    step = (loc[1 : nl + 1] - loc[0]).gather(1, pixel[:, None])[:, 0]
    for z in range(2 if paired else 1):  # the twins: channels alternate plus, minus
        mine = torch.tensor([(c // (H * W)) % (2 if paired else 1) == z for c in range(nl)])
        ok = ok and sorted(pixel[mine].tolist()) == list(range(D))
        ok = ok and bool(((step[mine] > 0) if z == 0 else (step[mine] < 0)).all())
    blocks = [torch.nonzero(row).flatten() for row in ds[nl:]]
    if capped is not None:  # each cap moves its scale unit's block back
        up = (ls[nl + 1 :] - ls[0]).sum(1)
        twin = [torch.nonzero(row).flatten() for row in capped != 0]
        ok = ok and all(torch.equal(a, b) for a, b in zip(blocks, twin, strict=True))
        ok = ok and bool((up * capped.sum(1) < 0).all())
    covered = sorted(int(p) for b in blocks for p in b)
    if not ok or covered != list(range(D)) or any(b.numel() == 0 for b in blocks):
        return None, "the routed units do not map one to one onto the pixels"
    dev = torch.zeros_like(ls[0])
    for b in blocks:
        dev[b] = ls[0][b] - ls[0][b].mean()
    start = torch.zeros(consumer.out_features, dtype=dev.dtype)
    start[torch.tensor(v_units)] = 1e-2  # a ReLU's kink at 0 would stop the solve
    rewired = (
        f"a pixel shuffle of {len(first) - nv} location channels and {nv} scale "
        f"channel{'s' * (nv - 1)} of {C} onto the {D} pixels"
    )
    if not paired:
        return Route(units, pixel, blocks, start, dev, rewired), ""
    idx = torch.arange(nl).reshape(-1, 2, H * W)  # (channel pair, twin, position)
    plus, minus = idx[:, 0].reshape(-1), idx[:, 1].reshape(-1)
    if not torch.equal(pixel[plus], pixel[minus]):
        return None, "the routed twins do not map onto the same pixels"
    free = torch.cat([units[plus], torch.tensor(v_units[: H * W])])
    caps = torch.tensor(v_units[H * W :])
    return Route(free, pixel[plus], blocks, start, dev, rewired, units[minus], caps), ""
