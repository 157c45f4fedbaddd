"""mkdocs hook: render the pages' TeX math to MathML when the site is built.

The Markdown holds math the way GitHub renders it: ``$...$`` inline and fenced ``math`` blocks
for display. ``pymdownx.arithmatex`` (generic mode) and a ``math`` custom fence of
``pymdownx.superfences`` (see ``mkdocs.yml``) wrap each formula in
``<span class="arithmatex">\\(...\\)</span>`` or ``<div class="arithmatex">\\[...\\]</div>``;
this hook replaces those with MathML from ``latex2mathml`` (in the ``docs`` extra), which every
current browser displays natively. The site therefore needs no JavaScript and no CDN for its
math, and reads the same offline.
"""

from __future__ import annotations

import html
import re
from typing import Any

from latex2mathml.converter import convert

_INLINE = re.compile(r'<span class="arithmatex">\\\((.*?)\\\)</span>', re.S)
_BLOCK = re.compile(r'<div class="arithmatex">\\\[(.*?)\\\]</div>', re.S)


def tex_to_mathml(tex: str, display: bool = False) -> str:
    """MathML for one formula given as (HTML-escaped) TeX."""
    return convert(html.unescape(tex).strip(), display="block" if display else "inline")


def render_math(page_html: str) -> str:
    """``page_html`` with every arithmatex formula replaced by MathML."""
    page_html = _BLOCK.sub(lambda m: tex_to_mathml(m.group(1), display=True), page_html)
    return _INLINE.sub(lambda m: tex_to_mathml(m.group(1)), page_html)


def on_page_content(html_text: str, **kwargs: Any) -> str:
    """mkdocs hook: MathML instead of TeX in the page's HTML."""
    return render_math(html_text)
