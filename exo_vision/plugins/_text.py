"""Text in the docks: result and summary lines that wrap within the dock's width."""

from __future__ import annotations

from magicgui.widgets import Label
from qtpy.QtWidgets import QSizePolicy


def wrapping(label: Label) -> Label:
    """Make ``label`` wrap its text at word boundaries and give up its width to the viewer.

    A dock is as wide as its widest line, so an unwrapped summary line would take its width from the image
    canvas. The label's own width is ignored by the layout (the dock keeps the width of its other widgets) and
    its text is broken into as many lines as it needs.

    Returns
    -------
    Label
        ``label`` itself.
    """
    native = label.native
    native.setWordWrap(True)
    policy = native.sizePolicy()
    policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
    native.setSizePolicy(policy)
    native.setMinimumWidth(0)
    return label
