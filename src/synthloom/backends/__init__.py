"""Backends behind one typed boundary; see base.py for the protocol and errors."""

from .base import (
    AuthFailed,
    Backend,
    BackendBase,
    BackendError,
    BadRequest,
    BadResponse,
    ContextTooLong,
    RateLimited,
    Request,
    Response,
    ServerError,
    Timeout,
    Unreachable,
    Usage,
)
from .fake import FakeBackend

__all__ = [
    "Backend",
    "BackendBase",
    "Request",
    "Response",
    "Usage",
    "BackendError",
    "RateLimited",
    "Timeout",
    "ServerError",
    "Unreachable",
    "BadResponse",
    "BadRequest",
    "ContextTooLong",
    "AuthFailed",
    "FakeBackend",
]
