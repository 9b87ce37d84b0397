"""Every relative link in the README and in the notebooks points to a file that exists."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from apps import ROOT

MD_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""")
BINDER_LABPATH = re.compile(r"https://mybinder\.org/v2/gh/[^)\s\"']*[?&]labpath=([^)&\s\"']+)")


def links(text: str) -> list[str]:
    """Link targets in Markdown (``[text](target)``, images) and in HTML attributes; code spans ignored."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return MD_LINK.findall(text) + HTML_LINK.findall(text)


def relative_targets(text: str) -> list[str]:
    """The links that name a file of this repository (no scheme, no host, not a bare #anchor)."""
    out = []
    for target in links(text):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or not parts.path:
            continue
        out.append(unquote(parts.path))
    return out


def documents() -> list:
    docs = [pytest.param(ROOT / "README.md", (ROOT / "README.md").read_text(encoding="utf-8"), id="README.md")]
    for folder in ("solutions", "notebooks"):
        for path in sorted((ROOT / folder).glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            text = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
            docs.append(pytest.param(path, text, id=f"{folder}/{path.name}"))
    return docs


def test_link_extraction():
    text = ("[a](x.ipynb) ![img](img/p.png) [web](https://example.org/a) [anchor](#setup) `[no](code.md)`\n"
            '<a href="y.ipynb#part" target="_blank">y</a> [sp](notebooks%2Fz.ipynb)')
    assert relative_targets(text) == ["x.ipynb", "img/p.png", "notebooks/z.ipynb", "y.ipynb"]


@pytest.mark.parametrize("path,text", documents())
def test_relative_links_resolve(path: Path, text: str):
    broken = [t for t in relative_targets(text) if not (path.parent / t).exists()]
    assert not broken, f"{path.relative_to(ROOT)} links to missing files: {broken}"


def test_binder_launch_links_open_existing_notebooks():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    labpaths = [unquote(p) for p in BINDER_LABPATH.findall(readme)]
    assert labpaths, "the README has no Binder launch link"
    missing = [p for p in labpaths if not (ROOT / p).exists()]
    assert not missing, f"Binder links open notebooks that do not exist: {missing}"
