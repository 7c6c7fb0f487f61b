"""Western-blot quantification (pure functions over arrays, no GUI).

One job per module:

* :mod:`~exo_vision.blot.signal` - polarity, signal orientation, dust specks
* :mod:`~exo_vision.blot.strips` - membrane strips in an image
* :mod:`~exo_vision.blot.lanes` - lane geometry (:class:`~exo_vision.blot.lanes.Lane`), automatic or explicit
* :mod:`~exo_vision.blot.bands` - bands from lane profiles, band rows across lanes
* :mod:`~exo_vision.blot.background` - lane-profile baseline (default), border median, rolling ball/disk
* :mod:`~exo_vision.blot.volume` - background-subtracted band volume
* :mod:`~exo_vision.blot.saturation` - clipped pixels, 8-bit export warnings
* :mod:`~exo_vision.blot.detection` - blank-box noise, limit of detection, present/absent
* :mod:`~exo_vision.blot.ladder` - molecular-weight fit from a ladder lane
* :mod:`~exo_vision.blot.panel` - EV/lysate enrichment, replicate statistics, MISEV verdict
* :mod:`~exo_vision.blot.quantify` - :func:`~exo_vision.blot.quantify.quantify_blot`, the one high-level call
"""
