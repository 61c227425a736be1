"""The HTTP server: FastAPI app factory, versioned API routers, auth and limits.

Needs the ``server`` extra (``pip install 'assay[server]'``).
"""

from assay.server.app import create_app

__all__ = ["create_app"]
