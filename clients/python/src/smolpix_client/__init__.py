"""The official Python client of the Smolpix image-optimization API, and the `smolpix` command.

from smolpix_client import Client

with Client() as client:  # the key from $SMOLPIX_API_KEY
    result = client.optimize(file="photo.jpg")
    result.save("photo")  # photo.webp or photo.avif, whichever the API returned
"""

from smolpix_client.client import AsyncClient, Client
from smolpix_client.errors import (
    ConnectionFailed,
    FetchFailed,
    ImageTooLarge,
    InvalidApiKey,
    InvalidBaseUrl,
    InvalidRequest,
    LimitReached,
    MissingApiKey,
    NotSent,
    PlanRequired,
    QuotaExceeded,
    QuotaHeldInFlight,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    SmolpixError,
    Unauthorized,
    UnsupportedImage,
)
from smolpix_client.protocol import Retries
from smolpix_client.results import OptimizeResult, QualityScore, Usage

__all__ = [
    "AsyncClient",
    "Client",
    "ConnectionFailed",
    "FetchFailed",
    "ImageTooLarge",
    "InvalidApiKey",
    "InvalidBaseUrl",
    "InvalidRequest",
    "LimitReached",
    "MissingApiKey",
    "NotSent",
    "OptimizeResult",
    "PlanRequired",
    "QualityScore",
    "QuotaExceeded",
    "QuotaHeldInFlight",
    "RateLimited",
    "Retries",
    "ServerError",
    "ServiceUnavailable",
    "SmolpixError",
    "Unauthorized",
    "UnsupportedImage",
    "Usage",
]
