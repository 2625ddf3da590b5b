"""musae core engine: MusicGen residual streams, sparse autoencoders, features and steering.

The engine never imports Qt; the desktop app in ``app/`` is one client of it, the ``musae``
command line and notebooks are others.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("musae")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
