"""Error hierarchy of sen2cloud.

Every message is one line, ``"<path>: <problem>"`` when a file is involved. The CLI maps
:class:`InputError` and :class:`ConfigError` to exit code 2 and every other
:class:`Sen2CloudError` to exit code 1; Lambda handlers let them propagate so that the message
fails and, after the queue's ``maxReceiveCount``, lands in the dead-letter queue.
"""

from __future__ import annotations


class Sen2CloudError(Exception):
    """Root of all sen2cloud errors."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class InputError(Sen2CloudError, ValueError):
    """The user's input product (or request) is unusable."""


class ProductFormatError(InputError):
    """A file of the product is missing, truncated, corrupt or malformed."""


class UnsupportedProductError(InputError):
    """A well-formed product that sen2cloud does not process (wrong level, baseline, format)."""


class MissingBandError(ProductFormatError):
    """A spectral band file named by the metadata is absent."""


class UnsafeInputError(InputError):
    """Hostile content: XML entities, oversized files, archive path traversal, bad keys."""


class ConfigError(Sen2CloudError, ValueError):
    """A GIPP file has an unknown key, a bad type or an out-of-range value."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        self.key = key
        super().__init__(f"{key}: {message}" if key else message, path=path)


class AuxiliaryDataError(Sen2CloudError):
    """A DEM, look-up table or ESA-CCI map is missing or does not cover the tile."""


class ProcessingError(Sen2CloudError):
    """A numerical step failed (e.g. a look-up table would be extrapolated)."""


class NotAvailableError(Sen2CloudError):
    """The requested processing step is not implemented yet; no stand-in output is written."""


class OutputError(Sen2CloudError, OSError):
    """Staging or publishing the output failed (retryable)."""


class Sen2CloudWarning(UserWarning):
    """Root of sen2cloud warnings."""


class FallbackWarning(Sen2CloudWarning):
    """A documented fallback was taken (flat terrain, default AOT, ...)."""
