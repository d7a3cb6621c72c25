"""Encryption at rest for sensitive variable values and plan artifacts (Fernet)."""

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class DecryptionError(Exception):
    """The stored secret cannot be read with the configured key."""


@lru_cache(maxsize=4)
def _fernet(key_material: str, secret_key: str) -> Fernet:
    if key_material:
        try:
            return Fernet(key_material.encode())
        except ValueError:
            # Any passphrase works: derive a proper 32-byte key from it.
            pass
    seed = key_material or secret_key
    digest = hashlib.sha256(("iacplatform-fernet:" + seed).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def fernet() -> Fernet:
    return _fernet(settings.IAC_ENCRYPTION_KEY, settings.SECRET_KEY)


def encrypt_text(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt_text(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("stored secret cannot be decrypted with the configured key") from None


def encrypt_bytes(data: bytes) -> bytes:
    return fernet().encrypt(data)


def decrypt_bytes(token: bytes) -> bytes:
    try:
        return fernet().decrypt(bytes(token))
    except InvalidToken:
        raise DecryptionError("stored artifact cannot be decrypted with the configured key") from None
