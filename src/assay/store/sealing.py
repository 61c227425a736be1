"""Secrets at rest: sealed (Fernet) with the server key; API key hashes peppered with it.

The server key is ``ASSAY_SECRET_KEY`` or, without one, a random key generated once into
``$ASSAY_HOME/secret.key`` (mode 0600). Two keys are derived from it: a Fernet key that seals
stored secrets (endpoint secret headers, connection keys, secret-named values in evaluator
parameters and experiment configs) and a pepper for API key hashes (HMAC-SHA256). A sealed value
is a string ``enc:v1:<token>``; reading a value that is not sealed gives it back as it is, so
rows written before sealing still work until the migration seals them.

``cryptography`` is imported on the first seal or unseal, not to authenticate a request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.domain.redaction import is_secret_name
from assay.errors import StorageError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

    from assay.config import Settings

PREFIX = "enc:v1:"
KEY_FILE = "secret.key"
_SECRET_MAPS = frozenset({"secret_headers"})


def _derive(key: bytes, purpose: bytes) -> bytes:
    return hmac.new(key, b"assay/" + purpose, hashlib.sha256).digest()


class Keyring:
    """The keys derived from one server key, read (or generated) when first needed."""

    def __init__(self, key: str | Callable[[], str]) -> None:
        self._source = key

    @cached_property
    def _key(self) -> bytes:
        return (self._source if isinstance(self._source, str) else self._source()).encode()

    @cached_property
    def _pepper(self) -> bytes:
        return _derive(self._key, b"pepper")

    @cached_property
    def _fernet(self) -> Fernet:
        from cryptography.fernet import Fernet

        return Fernet(base64.urlsafe_b64encode(_derive(self._key, b"fernet")))

    def pepper(self, secret: str) -> str:
        """The stored hash of an API key secret: HMAC-SHA256 keyed by the pepper."""
        return hmac.new(self._pepper, secret.encode(), hashlib.sha256).hexdigest()

    def seal(self, text: str) -> str:
        if is_sealed(text):
            return text
        return PREFIX + self._fernet.encrypt(text.encode()).decode()

    def unseal(self, text: str) -> str:
        if not is_sealed(text):
            return text
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(text[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise StorageError(
                "a stored secret cannot be decrypted: the server key (ASSAY_SECRET_KEY or "
                "$ASSAY_HOME/secret.key) is not the one it was sealed with"
            ) from None

    def seal_tree(self, value: Any) -> Any:
        """A copy of a JSON value with every secret-named string sealed."""
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                if str(key) in _SECRET_MAPS and isinstance(item, dict):
                    out[key] = {k: self._seal_any(v) for k, v in item.items()}
                elif is_secret_name(str(key)):
                    out[key] = self._seal_any(item)
                else:
                    out[key] = self.seal_tree(item)
            return out
        if isinstance(value, list):
            return [self.seal_tree(item) for item in value]
        return value

    def unseal_tree(self, value: Any) -> Any:
        """A copy of a JSON value with every sealed string opened."""
        if isinstance(value, str):
            return self.unseal(value)
        if isinstance(value, dict):
            return {k: self.unseal_tree(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.unseal_tree(item) for item in value]
        return value

    def _seal_any(self, value: Any) -> Any:
        return self.seal(value) if isinstance(value, str) and value else self.seal_tree(value)


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def has_sealed(value: Any) -> bool:
    """Whether a JSON value holds a sealed string anywhere (cheap check before unsealing)."""
    if isinstance(value, str):
        return value.startswith(PREFIX)
    if isinstance(value, dict):
        return any(has_sealed(v) for v in value.values())
    if isinstance(value, list):
        return any(has_sealed(v) for v in value)
    return False


def server_key(settings: Settings) -> str:
    """``ASSAY_SECRET_KEY``, else the key file under ``ASSAY_HOME`` (created once, 0600)."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value()
    path = Path(settings.home).expanduser() / KEY_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


def load_keyring(settings: Settings | None = None) -> Keyring:
    from assay.config import Settings

    settings = settings or Settings()
    return Keyring(lambda: server_key(settings))
