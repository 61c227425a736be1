"""Files shipped with a package, served by name from a fixed list (never a path from the URL)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fastapi.responses import FileResponse

from assay.errors import NotFound

_MEDIA = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".txt": "text/plain",
}


def static_file(files: Mapping[str, Path], name: str) -> FileResponse:
    """``files[name]``, cached for a day (the files change only with the package)."""
    path = files.get(name)
    if path is None:
        raise NotFound(f"no static file {name!r}")
    return FileResponse(
        path,
        media_type=_MEDIA.get(path.suffix, "application/octet-stream"),
        headers={"Cache-Control": "public, max-age=86400"},
    )
