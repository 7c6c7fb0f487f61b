"""A domain-randomised generator of negative-stain EV micrographs, for training a network.

:mod:`exo_vision.synthetic.tem` renders one carefully modelled look at acquisition
pixel sizes; this module instead draws every appearance parameter from wide
ranges so that a network trained on it meets real micrographs from other labs as
"one more style". Images are rendered directly at a given pixel size (the
learned segmenter's working scale, a few nm per pixel) with instance truth.

What varies, image by image and vesicle by vesicle:

* background: level, gradients, large mottled patches, carbon-film grain,
  stain pools (dark, smooth-edged regions) with vesicles inside and at their edge;
* vesicles (20-400 nm, log-normal, elliptical and irregular): body lighter or
  darker than the stain or grey; a dark (or light) membrane line; a light inner
  rim; a dark or light halo; cups (a darker depression, centred or off-centre,
  round or crescent; in ``random-4`` some creased by fold lines); rims broken into
  arcs; interior texture; touching pairs, chains, crowded fields and small
  vesicles lying on large ones;
* look-alikes that are not labelled: small particles (Gaussian spots; in the
  ``random-3`` look-space their half-maximum disc stays under 11 nm), fluffy protein
  aggregates, dark precipitate, filaments and tubes, scale bars and text; in
  ``random-4`` lumpy light debris lying in the stain pools;
* imaging: defocus blur, Poisson (low-dose) and read noise, gamma, contrast
  reversal, 8-bit display stretch with clipping, JPEG artefacts, and renders
  made at a coarser pixel size and enlarged again (display renders of 3-6 nm/px).

Every random draw comes from the ``rng`` argument, so a seed gives one image in a
given look-space (``version``; see :data:`GENERATOR_VERSIONS`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage as ndi

#: Version of the generator recorded in model cards (bump when the look-space changes).
GENERATOR_VERSION = "random-1"

#: Look-spaces that :func:`make_random_tem` can still render, oldest first. ``random-3``
#: differs from ``random-1`` in two ways: its unlabelled particles stay below the smallest
#: labelled vesicle (``random-1`` drew Gaussian spots of 2.5-9 nm standard deviation, whose
#: visible disc reaches 30-40 nm, so bright spots of a small vesicle's size were taught as
#: background), and some small vesicles are plain discs whose membrane is not resolved
#: (as small EVs look in display renders of 4-6 nm/px). ``random-4`` adds to ``random-3`` fold lines
#: across the inside of some cups (a cup with a crease is still one vesicle) and lumpy light debris
#: lying in the dark stain pools (unlabelled), the two kinds of real structure that a network trained
#: on ``random-3`` cut in two or took for small vesicles.
GENERATOR_VERSIONS = ("random-1", "random-3", "random-4")
# (an experimental "random-2", with folds, shading and vesicles up to 600 nm, was tried and removed;
# the model card's notes describe it, so its name is not reused)

#: Particle Gaussian standard deviation range per look-space, nm.
PARTICLE_SIGMA_NM = {"random-1": (2.5, 9.0), "random-3": (1.2, 4.5), "random-4": (1.2, 4.5)}

#: Vesicles below this diameter may be drawn plain in ``random-3``, nm.
PLAIN_MAX_DIAMETER_NM = 70.0

#: Size range of one lobe of the debris in stain pools (``random-4``), nm radius.
DEBRIS_LOBE_NM = (3.0, 12.0)

#: Smallest vesicle that is labelled, nm (smaller round things are particles).
MIN_VESICLE_NM = 20.0


@dataclass(frozen=True)
class RandomTemImage:
    """One generated micrograph.

    Attributes
    ----------
    image : (M, N) ndarray of float32
        Grey levels in [0, 1] (an 8-bit display when ``display_8bit``).
    labels : (M, N) ndarray of int32
        Vesicle instance labels at their outer membrane edge, 0 = background.
    pixel_size_nm : float
        Pixel edge length of ``image``, nm.
    noise_free : (M, N) ndarray of float32 or None
        ``image`` before its noise: the same blur, polarity, display stretch,
        gamma and coarse render, without counting and read noise, 8-bit rounding
        or JPEG (what :func:`exo_vision.evaluation.visibility.rose_snr` compares
        the image with).
    annotation : (M, N) ndarray of bool or None
        Pixels of the burnt-in scale bar, label or data strip (all False when
        the image has none). The labels are drawn before it and keep the
        vesicles it covers.
    """

    image: np.ndarray
    labels: np.ndarray
    pixel_size_nm: float
    noise_free: np.ndarray | None = None
    annotation: np.ndarray | None = None


def _smooth_noise(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian-filtered white noise scaled to unit standard deviation."""
    if sigma > 8:  # filter a coarse grid and enlarge: same look, a fraction of the time
        step = int(sigma // 4)
        small = (max(shape[0] // step + 2, 4), max(shape[1] // step + 2, 4))
        field = ndi.gaussian_filter(rng.standard_normal(small).astype(np.float32), sigma / step, mode="wrap")
        field = cv2.resize(field, (small[1] * step, small[0] * step), interpolation=cv2.INTER_CUBIC)
        field = field[: shape[0], : shape[1]]
    else:
        field = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    std = float(field.std())
    return field / std if std > 0 else field


def _background(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    m, n = shape
    yy, xx = np.mgrid[0:m, 0:n].astype(np.float32)
    bg = np.full(shape, 0.5, np.float32)
    gy, gx = rng.normal(0, 0.15, 2) / max(m, n)
    bg += gy * (yy - m / 2) + gx * (xx - n / 2)
    if rng.random() < 0.5:  # a radial vignette (illumination centred somewhere)
        cy, cx = rng.uniform(0, m), rng.uniform(0, n)
        r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / float(max(m, n) ** 2)
        bg += rng.uniform(-0.25, 0.25) * r2
    bg += rng.uniform(0, 0.08) * _smooth_noise(shape, rng.uniform(30, 120), rng)
    bg += rng.uniform(0, 0.05) * _smooth_noise(shape, rng.uniform(3, 12), rng)  # mottling
    bg += rng.uniform(0, 0.03) * _smooth_noise(shape, rng.uniform(0.6, 1.5), rng)  # carbon grain
    return bg


def _stain_pools(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A field of smooth-edged dark pools (0 outside, up to 1 inside)."""
    field = _smooth_noise(shape, rng.uniform(15, 60), rng)
    level = rng.uniform(0.8, 2.2)
    edge = rng.uniform(0.1, 0.5)
    return np.clip((field - level) / edge + 0.5, 0, 1).astype(np.float32)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _vesicle_style(rng: np.random.Generator, image_style: dict, *, diameter_nm: float) -> dict:
    """Appearance of one vesicle, drawn around its image's shared style.

    In ``random-3`` and ``random-4`` a vesicle under :data:`PLAIN_MAX_DIAMETER_NM` is, with the
    image's ``plain_fraction``, a plain disc: lighter than the stain, its membrane line and inner
    rim too faint to resolve, no cup. In ``random-4`` a cup is, with the image's ``fold_fraction``,
    creased by fold lines (see :func:`_fold_lines`).
    """
    s = dict(image_style)
    jitter = lambda v, a: v + rng.normal(0, a)  # noqa: E731
    s["body"] = jitter(image_style["body"], 0.05)
    s["membrane"] = jitter(image_style["membrane"], 0.04)
    s["inner_rim"] = max(0.0, jitter(image_style["inner_rim"], 0.04))
    s["halo"] = jitter(image_style["halo"], 0.04)
    s["cup"] = rng.random() < image_style["cup_fraction"]
    if image_style["version"] != "random-1" and diameter_nm < PLAIN_MAX_DIAMETER_NM:
        if rng.random() < image_style["plain_fraction"]:
            s["body"] = float(rng.uniform(0.1, 0.35))
            s["membrane"] *= float(rng.uniform(0.0, 0.3))
            s["inner_rim"] = 0.0
            s["cup"] = False
    if image_style["version"] == "random-4":
        s["fold"] = bool(s["cup"] and rng.random() < image_style["fold_fraction"])
    return s


def _draw_vesicle(
    canvas: np.ndarray,
    labels: np.ndarray,
    label: int,
    *,
    centre: tuple[float, float],
    radius_px: float,
    style: dict,
    rng: np.random.Generator,
) -> None:
    """Paint one vesicle into ``canvas`` (additively over what is beneath) and ``labels``."""
    m, n = canvas.shape
    cy, cx = centre
    aspect = float(np.clip(rng.lognormal(0, 0.12), 0.7, 1.45))
    angle = rng.uniform(0, np.pi)
    halo_w = style["halo_width"] * radius_px + 1.0
    reach = radius_px * max(aspect, 1 / aspect) * 1.25 + halo_w + 3
    r0, r1 = int(max(cy - reach, 0)), int(min(cy + reach + 1, m))
    c0, c1 = int(max(cx - reach, 0)), int(min(cx + reach + 1, n))
    if r1 <= r0 or c1 <= c0:
        return
    yy, xx = np.mgrid[r0:r1, c0:c1].astype(np.float32)
    dy, dx = yy - cy, xx - cx
    ca, sa = np.cos(angle), np.sin(angle)
    u = (dx * ca + dy * sa) / aspect
    v = (-dx * sa + dy * ca) * aspect
    theta = np.arctan2(v, u)
    # an irregular outline: a few low-order harmonics of the radius
    rad = np.ones_like(theta)
    for k in (2, 3, 4, 5):
        rad += rng.normal(0, style["irregularity"] / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    dist = np.hypot(u, v)
    outline = radius_px * rad
    d_edge = dist - outline  # px, negative inside
    inside_soft = _smoothstep(0.5 - d_edge)  # anti-aliased interior
    rho = dist / np.maximum(outline, 1e-3)

    body = style["body"] * np.ones_like(rho)
    body += style["dome"] * (1 - rho**2) * (rho < 1)
    if style["cup"]:
        # a stain-filled depression: off-centre for cups seen at an angle, elongated for crescents
        off = rng.uniform(0, 0.45) * radius_px
        phi = rng.uniform(0, 2 * np.pi)
        qy, qx = dy - off * np.sin(phi), dx - off * np.cos(phi)
        size = rng.uniform(0.35, 0.75) * radius_px
        elong = rng.uniform(1.0, 1.8)
        q = np.hypot(qx * np.cos(phi) + qy * np.sin(phi), (qy * np.cos(phi) - qx * np.sin(phi)) * elong) / size
        body += style["cup_depth"] * _smoothstep(1.3 - q) * (rho < 0.95)
    if style.get("fold"):
        body += _fold_lines(dy, dx, rho, radius_px=radius_px, membrane=style["membrane"], rng=rng)
    if style["texture"] > 0:
        body += style["texture"] * _smooth_noise(rho.shape, rng.uniform(0.7, 2.5), rng)
    membrane_w = max(style["membrane_px"], 0.6)
    ring = np.exp(-0.5 * (d_edge / membrane_w) ** 2)
    membrane = style["membrane"] * ring
    if style["broken_rim"]:
        membrane *= 0.5 + 0.5 * np.cos(rng.integers(2, 6) * theta + rng.uniform(0, 6.3)) ** 2
    inner = style["inner_rim"] * np.exp(-0.5 * ((d_edge + 2.0 * membrane_w) / (1.2 * membrane_w)) ** 2)
    outside = np.clip(d_edge, 0, None)
    halo = style["halo"] * np.exp(-outside / halo_w) * (d_edge > 0)

    patch = canvas[r0:r1, c0:c1]
    # the vesicle covers what lies beneath it (a partial cover: stain still shows through)
    cover = inside_soft * style["opacity"]
    patch *= 1 - cover
    patch += cover * (0.5 + body) + membrane + inner * (rho < 1) + halo
    lab = labels[r0:r1, c0:c1]
    lab[d_edge <= 0] = label


def _fold_lines(
    dy: np.ndarray, dx: np.ndarray, rho: np.ndarray, *, radius_px: float, membrane: float, rng: np.random.Generator
) -> np.ndarray:
    """One to three creases across a cup's inside: thin curved lines that stop short of the rim.

    A collapsed cup folds where its membrane doubles over; the crease is drawn like the membrane
    (same sign, 0.4-1.2 times its contrast), or light in a quarter of cups. Offsets are in pixels.
    """
    out = np.zeros_like(rho)
    sign = 1.0 if rng.random() < 0.25 else -1.0
    for _ in range(int(rng.integers(1, 4))):
        psi = rng.uniform(0, np.pi)
        offset = rng.uniform(-0.5, 0.5) * radius_px
        bend = rng.uniform(-0.6, 0.6) / max(radius_px, 1.0)
        along = -dx * np.sin(psi) + dy * np.cos(psi)
        across = dx * np.cos(psi) + dy * np.sin(psi) - offset - bend * along**2
        width = rng.uniform(0.5, 2.5)
        reach = rng.uniform(0.6, 0.95)  # how far towards the rim the crease runs
        amp = sign * abs(membrane) * rng.uniform(0.4, 1.2)
        out += amp * np.exp(-0.5 * (across / width) ** 2) * _smoothstep((reach - rho) / 0.1)
    return out


def _pool_debris(
    canvas: np.ndarray, pools: np.ndarray, rng: np.random.Generator, *, pixel_size_nm: float, density: float
) -> None:
    """Lumpy light debris lying in the stain pools (``random-4``; unlabelled).

    Each piece is 3-7 lobes of :data:`DEBRIS_LOBE_NM` radius scattered about one point, with grainy
    texture, so it is irregular where a small vesicle is round. ``density`` is pieces per um^2 of
    full pool; a candidate point is kept with the pool's strength there.
    """
    m, n = canvas.shape
    area_um2 = float(pools.sum()) * (pixel_size_nm / 1000) ** 2
    layer = np.zeros((m, n), np.float32)
    low, high = DEBRIS_LOBE_NM
    for _ in range(int(rng.poisson(density * area_um2))):
        cy, cx = rng.uniform(0, m), rng.uniform(0, n)
        if rng.random() >= pools[int(cy), int(cx)]:
            continue
        lobe = rng.uniform(low, high) / pixel_size_nm
        amp = rng.uniform(0.4, 1.0)
        for _ in range(int(rng.integers(3, 8))):
            py, px = cy + rng.normal(0, 1.2 * lobe), cx + rng.normal(0, 1.2 * lobe)
            radius = max(int(round(lobe * rng.uniform(0.4, 1.0))), 1)
            cv2.circle(layer, (int(px), int(py)), radius, amp, -1)
    if layer.any():
        layer = cv2.GaussianBlur(layer, (0, 0), 0.8) * (1 + 0.3 * _smooth_noise((m, n), 0.8, rng))
        canvas += rng.uniform(0.1, 0.35) * np.clip(layer, 0, 1.3)


def _particles(canvas: np.ndarray, rng: np.random.Generator, *, pixel_size_nm: float, count: int, version: str) -> None:
    m, n = canvas.shape
    low, high = PARTICLE_SIGMA_NM[version]
    for _ in range(count):
        r = rng.uniform(low, high) / pixel_size_nm
        cy, cx = rng.uniform(0, m), rng.uniform(0, n)
        amp = rng.choice([-1, 1]) * rng.uniform(0.05, 0.3)
        reach = int(3 * r + 3)
        r0, r1, c0, c1 = (
            int(max(cy - reach, 0)),
            int(min(cy + reach, m)),
            int(max(cx - reach, 0)),
            int(min(cx + reach, n)),
        )
        if r1 <= r0 or c1 <= c0:
            continue
        yy, xx = np.mgrid[r0:r1, c0:c1]
        canvas[r0:r1, c0:c1] += amp * np.exp(-0.5 * ((yy - cy) ** 2 + (xx - cx) ** 2) / max(r, 0.5) ** 2)


def _aggregates(canvas: np.ndarray, rng: np.random.Generator, *, pixel_size_nm: float, count: int) -> None:
    """Fluffy protein aggregates and dark precipitate: clusters of small blobs."""
    m, n = canvas.shape
    for _ in range(count):
        spread = rng.uniform(15, 120) / pixel_size_nm
        cy, cx = rng.uniform(0, m), rng.uniform(0, n)
        k = int(rng.integers(6, 60))
        amp = rng.uniform(-0.35, 0.15) if rng.random() < 0.8 else rng.uniform(0.05, 0.25)
        size = rng.uniform(2, 10) / pixel_size_nm
        pts = rng.normal(0, spread / 2.5, (k, 2)) + (cy, cx)
        blob = np.zeros((m, n), np.float32)
        for py, px in pts:
            if 0 <= py < m and 0 <= px < n:
                cv2.circle(blob, (int(px), int(py)), max(int(size * rng.uniform(0.4, 1.2)), 1), 1.0, -1)
        blob = cv2.GaussianBlur(blob, (0, 0), max(size / 3, 0.6))
        canvas += amp * np.clip(blob, 0, 1)


def _filaments(canvas: np.ndarray, rng: np.random.Generator, *, pixel_size_nm: float, count: int) -> None:
    m, n = canvas.shape
    for _ in range(count):
        layer = np.zeros((m, n), np.float32)
        length = rng.uniform(30, 400) / pixel_size_nm
        steps = 12
        p = np.array([rng.uniform(0, n), rng.uniform(0, m)])
        heading = rng.uniform(0, 2 * np.pi)
        pts = [p.copy()]
        for _ in range(steps):
            heading += rng.normal(0, 0.35)
            p = p + length / steps * np.array([np.cos(heading), np.sin(heading)])
            pts.append(p.copy())
        width = max(int(round(rng.uniform(2, 15) / pixel_size_nm)), 1)
        cv2.polylines(layer, [np.array(pts, np.int32)], False, 1.0, width)
        layer = cv2.GaussianBlur(layer, (0, 0), 0.7)
        canvas += rng.choice([-1, 1]) * rng.uniform(0.05, 0.25) * layer


def _annotations(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A scale bar with a label, or a data strip, burnt in near an edge (not labelled); returns its pixels."""
    m, n = canvas.shape
    drawn = np.zeros((m, n), bool)
    value = float(rng.choice([0.0, 1.0]))
    if rng.random() < 0.6:
        h = int(rng.integers(2, 7))
        w = int(rng.uniform(0.15, 0.4) * n)
        y = int(rng.uniform(0.8, 0.95) * m)
        x = int(rng.uniform(0.03, 0.3) * n)
        drawn[y : y + h, x : x + w] = True
        text = f"{int(rng.choice([100, 200, 500]))} nm"
        ink = np.zeros((m, n), np.uint8)  # OpenCV draws text on 8-bit images only
        cv2.putText(ink, text, (x, max(y - 6, 10)), cv2.FONT_HERSHEY_SIMPLEX, rng.uniform(0.4, 0.9), 255, 2)
        drawn |= ink > 0
        canvas[drawn] = value
    else:
        h = int(rng.uniform(0.05, 0.1) * m)
        canvas[m - h :, :] = 1.0 - value
        drawn[m - h :, :] = True
        ink = np.zeros((m, n), np.uint8)
        cv2.putText(ink, "HV=80kV  Direct Mag", (5, m - h // 3), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 255, 1)
        canvas[ink > 0] = value
    return drawn


def _image_style(rng: np.random.Generator, version: str) -> dict:
    """Appearance shared by the vesicles of one image (its preparation and stain)."""
    kind = rng.choice(["bright", "grey_ringed", "dark", "mixed"], p=[0.45, 0.25, 0.15, 0.15])
    body = {
        "bright": rng.uniform(0.08, 0.35),
        "grey_ringed": rng.uniform(-0.08, 0.08),
        "dark": rng.uniform(-0.3, -0.08),
        "mixed": rng.uniform(-0.15, 0.3),
    }[kind]
    style = {
        "version": version,
        "body": float(body),
        # every vesicle shows its edge: a membrane line of at least 0.06 contrast, dark or light
        "membrane": float(rng.uniform(-0.35, -0.06) if rng.random() < 0.8 else rng.uniform(0.06, 0.2)),
        "membrane_px": float(rng.uniform(0.6, 2.0)),
        "inner_rim": float(rng.uniform(0.0, 0.25) if rng.random() < 0.6 else 0.0),
        "halo": float(rng.uniform(-0.3, 0.0) if rng.random() < 0.7 else rng.uniform(0.0, 0.12)),
        "halo_width": float(rng.uniform(0.03, 0.4)),
        "dome": float(rng.uniform(-0.1, 0.12)),
        "cup_fraction": float(rng.uniform(0.0, 0.8)),
        "cup_depth": float(rng.uniform(-0.35, -0.05)),
        "texture": float(rng.uniform(0.0, 0.05)),
        "irregularity": float(rng.uniform(0.0, 0.12)),
        "broken_rim": bool(rng.random() < 0.15),
        "opacity": float(rng.uniform(0.6, 1.0)),
    }
    if version != "random-1":  # drawn last: random-1's draws stay as they were
        style["plain_fraction"] = float(rng.uniform(0.0, 0.8))
    if version == "random-4":  # and after random-3's: random-3 stays as it was
        style["fold_fraction"] = float(rng.uniform(0.0, 0.7))
        style["pool_debris"] = float(rng.uniform(0.0, 60.0)) if rng.random() < 0.7 else 0.0
    return style


def _place_vesicles(
    shape: tuple[int, int], rng: np.random.Generator, *, pixel_size_nm: float
) -> list[tuple[float, float, float]]:
    """(row, column, radius px) of each vesicle: scattered, touching pairs, chains, crowds, small on large."""
    m, n = shape
    area_um2 = m * n * (pixel_size_nm / 1000) ** 2
    density = rng.choice([0.5, 3, 10, 30, 80], p=[0.1, 0.3, 0.3, 0.2, 0.1])  # vesicles per um^2
    count = int(rng.poisson(density * area_um2))
    median_nm = rng.uniform(35, 150)
    out: list[tuple[float, float, float]] = []
    while len(out) < count:
        d_nm = float(np.clip(rng.lognormal(np.log(median_nm), 0.5), MIN_VESICLE_NM, 400))
        r = d_nm / 2 / pixel_size_nm
        cy, cx = rng.uniform(-0.05, 1.05) * m, rng.uniform(-0.05, 1.05) * n
        out.append((cy, cx, r))
        mode = rng.random()
        if mode < 0.15:  # a touching neighbour (or a short chain)
            for _ in range(int(rng.integers(1, 4))):
                r2 = r * rng.uniform(0.5, 1.3)
                phi = rng.uniform(0, 2 * np.pi)
                gap = rng.uniform(-0.15, 0.05) * min(r, r2)
                cy, cx = cy + (r + r2 + gap) * np.sin(phi), cx + (r + r2 + gap) * np.cos(phi)
                r = r2
                out.append((cy, cx, r))
        elif mode < 0.22 and r > 15:  # a small vesicle lying on a large one
            rs = r * rng.uniform(0.15, 0.35)
            phi, at = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.8) * r
            out.append((cy + at * np.sin(phi), cx + at * np.cos(phi), max(rs, MIN_VESICLE_NM / 2 / pixel_size_nm)))
    return out


def _imaging(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Blur, noise, gamma, polarity, display stretch, JPEG and coarse-render artefacts.

    Returns the micrograph and its noise-free twin: the same blur, polarity,
    display stretch (with the micrograph's own percentiles), gamma and coarse
    render, without the counting and read noise, the 8-bit rounding and JPEG.
    The twin draws nothing from ``rng``, so a seed gives the same micrograph
    whether or not the twin is used.
    """
    img = image
    if rng.random() < 0.8:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.3))
    img = np.clip(img, 0.02, 2.0)
    clean = img.astype(np.float32)
    if rng.random() < 0.7:  # counting noise: dose in electrons per pixel at grey level 1
        dose = 10 ** rng.uniform(0.7, 2.7)
        img = rng.poisson(img * dose).astype(np.float32) / dose
    img = img + rng.normal(0, rng.uniform(0.0, 0.04), img.shape).astype(np.float32)
    if rng.random() < 0.35:  # reversed contrast (vesicles darker than the stain)
        img = 1.2 - img
        clean = 1.2 - clean
    lo, hi = np.percentile(img, [rng.uniform(0, 2), rng.uniform(98, 100)])
    img = np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1)
    clean = np.clip((clean - lo) / max(hi - lo, 1e-6), 0, 1)
    gamma = rng.uniform(0.7, 1.5)
    img = img**gamma
    clean = clean**gamma
    if rng.random() < 0.5:  # a render made at a coarser pixel size, enlarged again
        factor = rng.uniform(1.15, 2.0)
        m, n = img.shape
        small_shape = (max(int(n / factor), 8), max(int(m / factor), 8))
        img = cv2.resize(
            cv2.resize(img, small_shape, interpolation=cv2.INTER_AREA), (n, m), interpolation=cv2.INTER_LINEAR
        )
        clean = cv2.resize(
            cv2.resize(clean, small_shape, interpolation=cv2.INTER_AREA), (n, m), interpolation=cv2.INTER_LINEAR
        )
    if rng.random() < 0.7:  # 8-bit display, sometimes JPEG-compressed
        img8 = np.round(img * 255).astype(np.uint8)
        if rng.random() < 0.4:
            ok, buf = cv2.imencode(".jpg", img8, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 95))])
            img8 = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
        img = img8.astype(np.float32) / 255.0
    return img.astype(np.float32), clean.astype(np.float32)


def make_random_tem(
    shape: tuple[int, int] = (256, 256),
    *,
    pixel_size_nm: float = 3.0,
    rng: int | np.random.Generator | None = None,
    version: str = GENERATOR_VERSION,
) -> RandomTemImage:
    """Generate one domain-randomised negative-stain micrograph with vesicle truth.

    Parameters
    ----------
    shape : tuple of int
        Image shape (M, N) in pixels.
    pixel_size_nm : float
        Pixel edge length in nm (1.5-6 is the range the look-space was made for).
    rng : int or numpy.random.Generator, optional
        Seed or generator.
    version : str
        Look-space, one of :data:`GENERATOR_VERSIONS` (a seed gives the same image in a
        given version for good).

    Returns
    -------
    RandomTemImage
        The image (float32 in [0, 1]) and its instance labels.
    """
    rng = np.random.default_rng(rng)
    m, n = int(shape[0]), int(shape[1])
    if m < 16 or n < 16:
        raise ValueError(f"`shape` must be at least 16x16 pixels, got {shape}")
    if version not in GENERATOR_VERSIONS:
        raise ValueError(f"`version` must be one of {GENERATOR_VERSIONS}, got {version!r}")
    canvas = _background((m, n), rng)
    pools = np.zeros((m, n), np.float32)
    if rng.random() < 0.45:
        depth = rng.uniform(0.1, 0.4)  # drawn before the pools, as it always was
        pools = _stain_pools((m, n), rng)
        canvas -= depth * pools
    _aggregates(canvas, rng, pixel_size_nm=pixel_size_nm, count=int(rng.poisson(rng.uniform(0, 6))))
    labels = np.zeros((m, n), np.int32)
    style = _image_style(rng, version)
    placed = _place_vesicles((m, n), rng, pixel_size_nm=pixel_size_nm)
    placed.sort(key=lambda p: -p[2])  # large first: small vesicles lie on top
    for k, (cy, cx, r) in enumerate(placed, start=1):
        look = _vesicle_style(rng, style, diameter_nm=2 * r * pixel_size_nm)
        _draw_vesicle(canvas, labels, k, centre=(cy, cx), radius_px=r, style=look, rng=rng)
    if style.get("pool_debris", 0.0) > 0 and pools.any():
        _pool_debris(canvas, pools, rng, pixel_size_nm=pixel_size_nm, density=style["pool_debris"])
    count = int(rng.poisson(rng.uniform(0, 40)))
    _particles(canvas, rng, pixel_size_nm=pixel_size_nm, count=count, version=version)
    _filaments(canvas, rng, pixel_size_nm=pixel_size_nm, count=int(rng.poisson(0.6)))
    if rng.random() < 0.3:
        _aggregates(canvas, rng, pixel_size_nm=pixel_size_nm, count=int(rng.integers(1, 4)))
    annotation = np.zeros((m, n), bool)
    if rng.random() < 0.08:
        annotation = _annotations(canvas, rng)
    labels = _relabel_visible(labels, pixel_size_nm=pixel_size_nm)
    image, noise_free = _imaging(canvas, rng)
    return RandomTemImage(
        image=image, labels=labels, pixel_size_nm=float(pixel_size_nm), noise_free=noise_free, annotation=annotation
    )


def _relabel_visible(labels: np.ndarray, *, pixel_size_nm: float) -> np.ndarray:
    """Drop vesicles mostly hidden by others or cut to below the smallest size; number 1..K."""
    min_area = np.pi * (MIN_VESICLE_NM / 2 / pixel_size_nm) ** 2 * 0.6
    counts = np.bincount(labels.ravel())
    keep = counts >= min_area
    keep[0] = False
    lut = np.zeros(counts.size, np.int32)
    lut[keep] = np.arange(1, int(keep.sum()) + 1)
    return lut[labels]
