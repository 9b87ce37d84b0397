"""Serve a FastAPI app's interactive docs (Swagger UI, ReDoc) from this machine instead of a CDN.

The code is the Bookshelf app's own (``bookshelf.docs``): the same self-hosting recipe, with every URL under the
app's ``root_path``, so the docs work offline, directly and through jupyter-server-proxy. ``labkit.serve`` calls
it for every FastAPI app it serves, the learners' own apps included.
"""

from bookshelf.docs import ASSETS_PATH, assets_dir, self_host_docs

__all__ = ["ASSETS_PATH", "assets_dir", "self_host_docs"]
