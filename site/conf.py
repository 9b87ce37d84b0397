"""Sphinx configuration of the course website (built by ``python -m authoring.site build``, not by hand).

The pages are generated into ``build/src`` by authoring/site.py; this folder holds only the configuration,
the site's own stylesheet and the author-only requirements.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = Path(os.environ.get("COURSE_SITE_BUILD", HERE / "build"))
sys.path.insert(0, str(HERE.parent))
from authoring.navigation import BINDER_REPO  # noqa: E402

project = "Async Python web APIs, built in Jupyter"
author = "the course's authors"
copyright = "the course's authors, MIT licence"
extensions = ["myst_nb"]
exclude_patterns = ["**.ipynb_checkpoints"]

# the notebooks arrive executed (authoring/site.py runs them and fails the build on an error)
nb_execution_mode = "off"
nb_merge_streams = True
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]
# a few outputs carry MIME types myst-nb does not draw (and need not: a text/plain or image sits beside them)
suppress_warnings = ["mystnb.unknown_mime_type"]

html_theme = "sphinx_book_theme"
html_title = "Async Python web APIs"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_extra_path = [str(BUILD / "extra")]  # the learner notebooks, downloadable from each page
html_copy_source = False                  # the page's own source holds the build's outputs: offer the learner's
html_show_sourcelink = False
html_last_updated_fmt = ""
html_theme_options = {
    "repository_url": f"https://github.com/{BINDER_REPO}",
    "use_repository_button": True,
    "use_download_button": False,          # replaced by the learner notebook's download, below
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "show_navbar_depth": 1,
}


def _lesson_buttons(app, pagename, templatename, context, doctree):  # noqa: ANN001 - Sphinx's event signature
    """A lesson page's header gets *Launch on Binder* and *Download this notebook* (the learner edition)."""
    launches = json.loads((BUILD / "lessons.json").read_text()) if (BUILD / "lessons.json").exists() else {}
    file = f"{pagename}.ipynb"
    if file not in launches or "header_buttons" not in context:
        return
    context["header_buttons"][:0] = [
        {"type": "link", "url": launches[file], "text": "Launch on Binder", "tooltip": "Launch this lesson on Binder",
         "icon": "fas fa-rocket", "label": "launch-binder-button"},
        {"type": "link", "url": context["pathto"](f"notebooks/{file}", 1), "text": "Download notebook",
         "tooltip": "Download this lesson's notebook (the learner edition) to run in your JupyterLab",
         "icon": "fas fa-download", "label": "download-notebook-button"},
    ]


def setup(app):  # noqa: ANN001, ANN201
    app.connect("html-page-context", _lesson_buttons, priority=600)
