"""An explanation record as an HTML page or a PDF (WeasyPrint, the same HTML laid out on
A4), from the context :func:`serving.dossier.document.dossier_document` builds.

The HTML carries the record's numbers as JSON (``<script id="dossier-numbers">``), so a
program (an auditor's, a test) re-derives them without parsing the prose; a PDF carries the
same numbers in its visible footer's SHA-256 and in the audit log's ``dossier`` entry.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, select_autoescape

Format = Literal["html", "pdf"]
FORMATS: tuple[Format, ...] = ("html", "pdf")
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
_ENV.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}
_NUMBERS = re.compile(r'<script type="application/json" id="dossier-numbers">(.*?)</script>', re.S)


def render_html(document: dict[str, Any]) -> str:
    """The record as a self-contained HTML page (inline style, no script that runs)."""
    return _ENV.get_template("dossier.html.j2").render(d=document)


def render_pdf(html: str) -> bytes:
    """The HTML laid out as a PDF by WeasyPrint (imported here: it loads Pango).

    The record is self-contained (inline style, no image), so WeasyPrint may fetch nothing:
    a fetcher that allows no protocol keeps a caseworker's text, were it ever to reach the
    page unescaped, from making the server read a file or call a URL into a family's PDF."""
    from weasyprint import HTML  # type: ignore[import-untyped]
    from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

    return bytes(HTML(string=html, url_fetcher=URLFetcher(allowed_protocols=())).write_pdf())


def render(document: dict[str, Any], fmt: Format) -> bytes:
    """The record in ``fmt`` as bytes (HTML in UTF-8)."""
    html = render_html(document)
    return html.encode("utf-8") if fmt == "html" else render_pdf(html)


def numbers_of(html: str) -> dict[str, Any]:
    """The numbers embedded in a rendered record (ValueError when there are none)."""
    found = _NUMBERS.search(html)
    if found is None:
        raise ValueError("the page holds no dossier-numbers block")
    loaded: dict[str, Any] = json.loads(found.group(1))
    return loaded
