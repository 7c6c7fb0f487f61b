"""quantify_blot: requested positions and present/absent calls.

Exact volumes on hand-built strips are in test_quantify_exact.py.
"""

from __future__ import annotations

from exo_vision.blot.quantify import quantify_blot
from exo_vision.synthetic.blot import make_random_blot


def test_requested_faint_smear_beside_a_lobed_row_is_present():
    """Bug: a faint smear in a lane without a peak of its own was called absent although its volume cleared the LoD.

    The strip's smear splits into two touching band rows (its two lobes); the requested (upper) row's
    side-corrected volume read its lower baseline on the lower lobe. The baseline is read outside the
    run of touching bands, as the band's own background is (generated random blot, seed 206, strip 3).
    """
    blot = make_random_blot(rng=206, export="raw")
    markers = blot.truth.groupby("strip").marker.first().tolist()
    res = quantify_blot(blot.image, polarity=blot.polarity, max_value=blot.max_value, markers=markers)
    truth = blot.truth[(blot.truth.strip == 3) & (blot.truth.lane == 7)].iloc[0]
    assert truth.present and truth.kind == "smear"
    b = res.bands[(res.bands.strip == 3) & (res.bands.lane == 7) & res.bands.requested].iloc[0]
    assert not b.detected  # no peak of its own: the call rests on the volume
    assert b.volume > b.lod_volume
    assert b.present
