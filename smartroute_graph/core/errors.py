"""Exceptions with messages that say what was wrong and what to do."""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AllModelsFailedError",
    "AttachmentBusyError",
    "AttachmentEncodingError",
    "AttachmentError",
    "AttachmentTooLargeError",
    "BudgetError",
    "ConfigError",
    "CorruptAttachmentError",
    "DeadlineExceededError",
    "EmptyAttachmentError",
    "EmptyQueryError",
    "EncryptedPDFError",
    "InputError",
    "InvalidTextError",
    "MissingAPIKeyError",
    "OutcomeStoreError",
    "OwnKeysOnlyError",
    "SmartRouteError",
    "UnknownModelError",
    "UnsupportedAttachmentError",
]


class SmartRouteError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(SmartRouteError, ValueError):
    """A router, catalog or policy configuration is invalid."""


class InputError(SmartRouteError, ValueError):
    """The input to the router cannot be routed as given."""


class EmptyQueryError(InputError):
    """The query has no text and no attachments."""

    http_status = 422


class InvalidTextError(InputError):
    r"""The input holds text that is not valid Unicode: no model can be sent it.

    For example a lone surrogate such as ``"\ud800"``, from a split surrogate pair or a mis-decoded
    file.
    """


class UnknownModelError(ConfigError, KeyError):
    """A model name is not in the catalog."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class MissingAPIKeyError(SmartRouteError):
    """A provider needs an API key and none was given."""


class OwnKeysOnlyError(MissingAPIKeyError):
    """The call may spend only the request's own keys, and they do not cover this model."""


class BudgetError(SmartRouteError):
    """No model's estimated cost fits the request's budget."""


class AllModelsFailedError(SmartRouteError):
    """Every attempted model failed; ``attempts`` records each one."""

    def __init__(self, message: str, attempts: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.attempts = attempts


class DeadlineExceededError(SmartRouteError):
    """A request ran past its deadline (the server answers 504).

    No first token came in time, or no complete answer within the total deadline.
    """


class OutcomeStoreError(SmartRouteError):
    """The outcome store cannot be opened, read or written.

    It is corrupt, unreachable, or made for another embedding; routing can catch it and fall back to
    the prior.
    """


class AttachmentError(InputError):
    """An attachment cannot be used as sent. ``http_status`` is the status an API answers."""

    http_status: ClassVar[int] = 400


class EmptyAttachmentError(AttachmentError):
    """The upload has no content (zero bytes, or only whitespace for a text file)."""

    http_status: ClassVar[int] = 400


class AttachmentEncodingError(AttachmentError):
    """The base64 or data URL carrying the file cannot be decoded."""

    http_status: ClassVar[int] = 400


class AttachmentTooLargeError(AttachmentError):
    """Over a limit: bytes, PDF pages or image pixels (see :class:`AttachmentLimits`)."""

    http_status: ClassVar[int] = 413


class UnsupportedAttachmentError(AttachmentError):
    """A file type the router does not send to models (archives, executables, Office, …)."""

    http_status: ClassVar[int] = 415


class AttachmentBusyError(SmartRouteError):
    """Every PDF-reading slot stayed busy for the whole wait (see ``max_concurrent_pdfs``).

    Not an :class:`AttachmentError`: the file may be fine, the reader is at capacity; an
    HTTP API answers 503 and the client retries.
    """

    http_status: ClassVar[int] = 503


class CorruptAttachmentError(AttachmentError):
    """The file claims a supported type but cannot be read (truncated, damaged)."""

    http_status: ClassVar[int] = 422


class EncryptedPDFError(AttachmentError):
    """The PDF needs a password to open."""

    http_status: ClassVar[int] = 422
