"""User input the app accepts: size limits, the error that names the bad file, and upload checks.

Everything a user hands the page (view images, mesh files, sequence frames) passes through here before it
is decoded or read: a file over a size limit is refused before decoding (a small compressed image can
decode to gigabytes), and every refusal is an :class:`InputError` (a ``ValueError``) whose message names
the file and the problem, for the page to show (AffectVLM paper §III-F, the interactive app).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fervlm.io import MESH_EXTENSIONS

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_MESH_BYTES",
    "MAX_SEQUENCE_FRAMES",
    "InputError",
    "save_uploads",
]

#: Size limits of user input (an upload larger than this is refused before it is decoded).
MAX_IMAGE_BYTES = 20 * 2**20
#: Decoded pixel count above which an image is refused (a small compressed file can decode to gigabytes).
MAX_IMAGE_PIXELS = 40_000_000
MAX_MESH_BYTES = 200 * 2**20
MAX_SEQUENCE_FRAMES = 300
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class InputError(ValueError):
    """User input the app cannot use; the message names the file/parameter and the problem."""


def _name_and_bytes(item: Any, what: str, max_bytes: int) -> tuple[str, bytes]:
    """(name, content) of a path, raw bytes, a ``(name, bytes)`` pair or an uploaded file object."""
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        if not path.is_file():
            raise InputError(f"{what} {path}: no such file")
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(
                f"{what} {path.name}: {size / 2**20:.1f} MiB exceeds the {max_bytes / 2**20:.0f} MiB limit"
            )
        return path.name, path.read_bytes()
    if isinstance(item, tuple) and len(item) == 2:
        name, data = str(item[0]), item[1]
    elif isinstance(item, (bytes, bytearray)):
        name, data = "<bytes>", item
    elif hasattr(item, "getvalue") or hasattr(item, "read"):  # Streamlit UploadedFile, BytesIO, open file
        name = str(getattr(item, "name", "<upload>"))
        size = getattr(item, "size", None)
        if isinstance(size, int) and size > max_bytes:
            raise InputError(
                f"{what} {name}: {size / 2**20:.1f} MiB exceeds the {max_bytes / 2**20:.0f} MiB limit"
            )
        data = item.getvalue() if hasattr(item, "getvalue") else item.read()
    else:
        raise InputError(f"{what}: unsupported input of type {type(item).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise InputError(
            f"{what} {name}: {len(data) / 2**20:.1f} MiB exceeds the {max_bytes / 2**20:.0f} MiB limit"
        )
    return name, data


def _decode_image(name: str, data: bytes, size: int, max_pixels: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise InputError(f"image {name}: the file is empty")
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise InputError(
                    f"image {name}: {width}x{height} pixels exceeds the limit of "
                    f"{max_pixels / 1e6:.0f} megapixels"
                )
            rgb = img.convert("RGB")
            if rgb.size != (size, size):
                rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(rgb, dtype=np.uint8).copy()
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(f"image {name}: not an image file (PIL cannot identify it)") from None
    except Image.DecompressionBombError as err:
        raise InputError(f"image {name}: refused as too large ({err})") from None
    except (OSError, ValueError, SyntaxError) as err:  # truncated / corrupt data
        raise InputError(f"image {name}: cannot be decoded ({type(err).__name__}: {err})") from None


def _check_mesh_file(path: Path, max_bytes: int) -> None:
    if path.suffix.lower() not in MESH_EXTENSIONS:
        raise InputError(
            f"mesh {path.name}: unsupported extension {path.suffix!r}; "
            f"supported: {', '.join(MESH_EXTENSIONS)}"
        )
    if path.is_file() and path.stat().st_size > max_bytes:
        raise InputError(
            f"mesh {path.name}: {path.stat().st_size / 2**20:.1f} MiB exceeds the "
            f"{max_bytes / 2**20:.0f} MiB limit"
        )


def save_uploads(
    files: Sequence[Any],
    folder: str | Path,
    extensions: Sequence[str] = MESH_EXTENSIONS,
    max_bytes: int = MAX_MESH_BYTES,
) -> list[Path]:
    """Write uploaded files (``(name, bytes)`` pairs or uploaded-file objects) into ``folder``.

    Mesh readers take paths, so uploads are stored under their base names (never a path the upload
    names) in a folder the caller owns.

    Raises:
        InputError: a file with another extension, over the size limit, or two files with one name.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    allowed = tuple(e.lower() for e in extensions)
    paths: list[Path] = []
    for item in files:
        name, data = _name_and_bytes(item, "mesh", max_bytes)
        base = Path(name).name
        if Path(base).suffix.lower() not in allowed:
            raise InputError(
                f"file {base}: unsupported extension {Path(base).suffix!r}; supported: {', '.join(allowed)}"
            )
        if not data:  # a reader would fail on it with a message naming our temporary copy
            raise InputError(f"mesh {base}: the file is empty")
        target = folder / base
        if target in paths:
            raise InputError(f"file {base}: uploaded twice")
        target.write_bytes(data)
        paths.append(target)
    return paths
