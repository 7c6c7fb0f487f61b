"""Text in the docks: result and summary boxes that wrap within the dock's width and scroll when long."""

from __future__ import annotations

from magicgui.widgets import TextEdit
from qtpy.QtCore import QObject, QSizeF, Qt
from qtpy.QtWidgets import QSizePolicy, QTextEdit

#: Lines a result box grows to before it scrolls (the rest of its text is one scroll away).
MAX_VISIBLE_LINES = 8
#: Lines a result box keeps when two docks share a short window and the dock has to give up height.
MIN_VISIBLE_LINES = 2


def result_text(label: str = "", value: str = "", tooltip: str | None = None) -> TextEdit:
    """A read-only text box for a dock's result or summary line.

    A dock is as wide as its widest widget and as tall as the sum of its widgets' minimum heights, so a long
    line in a plain label either widened the dock (taking the image canvas's width) or, once wrapped, was cut
    off at the bottom when two docks shared a short window. This box gives up its width to the layout and
    breaks its text into lines at word boundaries; it is as tall as its text up to :data:`MAX_VISIBLE_LINES`
    lines and scrolls beyond that, and a squeezed dock may shrink it to :data:`MIN_VISIBLE_LINES` lines
    (it scrolls then too). The text can be selected and copied.

    Parameters
    ----------
    label : str
        The label shown beside the box in the dock.
    value : str
        The text shown first.
    tooltip : str, optional
        Hover text.

    Returns
    -------
    magicgui.widgets.TextEdit
        The box; set its text with ``.value``.
    """
    box = TextEdit(label=label, value=value, tooltip=tooltip)
    box.read_only = True
    native: QTextEdit = box.native
    native.setAcceptRichText(False)
    native.setLineWrapMode(QTextEdit.LineWrapMode.WidgetWidth)
    native.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    native.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    native.setMinimumWidth(0)
    fitter = _HeightFitter(native)  # a child of the box: goes with it, and its connection with it
    native.document().documentLayout().documentSizeChanged.connect(fitter.fit)
    fitter.fit(native.document().size())
    return box


class _HeightFitter(QObject):
    """Keeps its parent text box between the visible-line limits and its text's height (px)."""

    def fit(self, document_size: QSizeF) -> None:
        """Bound the box's height by ``document_size`` (the wrapped text's size, px) and the line limits."""
        native = self.parent()
        if not isinstance(native, QTextEdit):
            return
        line = native.fontMetrics().lineSpacing()
        margin = int(2 * native.document().documentMargin())
        frame = 2 * native.frameWidth() + margin
        text = max(int(document_size.height()) - margin, line)
        tallest = min(text, MAX_VISIBLE_LINES * line) + frame
        native.setMaximumHeight(tallest)
        native.setMinimumHeight(min(tallest, MIN_VISIBLE_LINES * line + frame))
