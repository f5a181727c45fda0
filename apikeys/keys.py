"""The API key format, with no database: generating, checking and hashing keys.

A key is `pk_live_` + 32 random base62 characters + a 6-character base62 CRC32 of everything
before it: 46 characters in all. The checksum lets us refuse a mistyped key without a database
query and lets secret scanners recognise a real key offline; the README documents the format.
"""

import hashlib
import hmac
import re
import secrets
import string
import zlib

from django.conf import settings

KEY_PREFIX = "pk_live_"
RANDOM_LENGTH = 32
CHECKSUM_LENGTH = 6
KEY_LENGTH = len(KEY_PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
# Stored in clear, unique and indexed, to find a key's row; long enough that random keys never collide.
LOOKUP_PREFIX_LENGTH = len(KEY_PREFIX) + 8
# What people see of a key after its creation: `pk_live_AbC1…`.
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 4

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
KEY_PATTERN = re.compile(rf"{KEY_PREFIX}[0-9A-Za-z]{{{RANDOM_LENGTH + CHECKSUM_LENGTH}}}")


def generate_key() -> str:
    body = KEY_PREFIX + "".join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))
    return body + checksum(body)


def checksum(body: str) -> str:
    """CRC32 of `body`, in base62 (most significant digit first), left-padded with "0" to 6 characters."""
    value = zlib.crc32(body.encode("ascii"))
    digits = ""
    while value:
        value, digit = divmod(value, 62)
        digits = BASE62[digit] + digits
    return digits.rjust(CHECKSUM_LENGTH, "0")


def is_well_formed(key: str) -> bool:
    """Whether `key` has the format of a key and a correct checksum (not whether it exists)."""
    if not KEY_PATTERN.fullmatch(key):
        return False
    body, check = key[:-CHECKSUM_LENGTH], key[-CHECKSUM_LENGTH:]
    return checksum(body) == check


def lookup_prefix(key: str) -> str:
    return key[:LOOKUP_PREFIX_LENGTH]


def display_prefix(prefix: str) -> str:
    return prefix[:DISPLAY_PREFIX_LENGTH] + "…"


def hash_key(key: str) -> str:
    """HMAC-SHA256 with a server secret: a stolen table of hashes is useless without the secret, and
    keys carry 190 random bits, so no slow password hash is needed."""
    return hmac.new(settings.API_KEY_HASH_SECRET.encode(), key.encode(), hashlib.sha256).hexdigest()
