"""What the packet's display helpers share: Markdown and image wrappers, words and formats."""

from __future__ import annotations

import html
import re
from typing import Any

import pandas as pd

from ..codes import CATEGORY_LABELS, RACE_LABELS
from ..runner.html import TITLE_METADATA

__all__ = ["MarkdownText", "PngImage", "Header", "SYNTHETIC_MARK", "FIGURE_DPI", "finding_identity"]

#: Resolution of the packet's chart images (dots per inch): sharp on screen and in print while
#: keeping the HTML and the workbook small and the per-LEA run quick.
FIGURE_DPI = 110
#: Shown in the title and as a banner when the data set is synthetic.
SYNTHETIC_MARK = "SYNTHETIC DATA"
#: Width, in pixels, at which the packet displays a chart (the HTML scales it down further).
DISPLAY_WIDTH_PX = 860

_LEVEL_WORDS = {
    "identified": "Significantly disproportionate",
    "flagged": "Disproportionate (above the threshold)",
    "watch": "Approaching the threshold",
}
_RATIO_TYPE_WORDS = {
    "risk_ratio": "risk ratio",
    "alternate_risk_ratio": "alternate risk ratio (State comparison)",
    "not_calculated": "not calculated",
}
_BANNER_STYLE = (
    "background:#C00000;color:#FFFFFF;font-weight:bold;padding:0.6em 1em;"
    "border-radius:4px;margin:0.5em 0 1em;"
)


class MarkdownText(str):
    """A string that Jupyter displays as Markdown (and tests read as plain text)."""

    __slots__ = ()

    def _repr_markdown_(self) -> str:
        return str(self)


class PngImage(bytes):
    """PNG bytes that Jupyter displays as an image (embedded in the HTML as a data URI).

    ``alt`` is the image's text alternative (its caption), carried into the HTML.
    """

    alt: str

    def __new__(cls, data: bytes, alt: str = "Chart") -> PngImage:
        obj = super().__new__(cls, data)
        obj.alt = alt
        return obj

    def _repr_png_(self) -> tuple[bytes, dict[str, str]]:
        return bytes(self), {"alt": self.alt}


class Header:
    """The packet's heading: HTML for display, the title in the output's metadata."""

    def __init__(self, title: str, body_html: str) -> None:
        self.title = title
        self.body_html = body_html

    def _repr_mimebundle_(self, include=None, exclude=None):  # noqa: ANN001 - IPython protocol
        data = {"text/html": self.body_html, "text/plain": self.title}
        return data, {TITLE_METADATA: self.title}


def _md(text: Any) -> str:
    """Text safe inside Markdown: HTML escaped, Markdown punctuation backslash-escaped.

    A consultant's note such as ``<script src=...>`` or ``*urgent*`` is shown as typed, never
    interpreted (the packet must stay self-contained and faithful).
    """
    s = html.escape(str(text), quote=False)
    # brackets are escaped, so no link or image can form; emphasis, code and tables cannot
    # either. Lines never start inside the text (newlines become <br>), so list and heading
    # markers need no escape.
    s = re.sub(r"([\\`*_\[\]|~])", r"\\\1", s)
    return s.replace("\r\n", "\n").replace("\n", "<br>")


def _fmt_ratio(x: Any) -> str:
    return "n/a" if x is None or pd.isna(x) else f"{float(x):.2f}"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def finding_identity(r: Any) -> dict[str, Any]:
    """What names a finding in the findings JSON, internal and public alike: key, year,
    category and group (codes and labels) and level."""
    return {
        "key": r["finding_id"],
        "school_year": r["school_year"],
        "category": r["category"],
        "category_label": _category_label(r["category"]),
        "race_ethnicity": r["race_ethnicity"],
        "group_label": _group_label(r["race_ethnicity"]),
        "level": r["level"],
    }


def _category_label(code: str) -> str:
    return CATEGORY_LABELS.get(code, code)


def _group_label(code: str) -> str:
    return RACE_LABELS.get(code, code)
