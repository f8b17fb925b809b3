"""The server's signing keys for id_tokens (OpenID Connect Core §10.1), published as a JWKS.

Kept in ``{data_dir}/jwks.json`` (private, mode 0600) so that id_tokens verify
across restarts. ``athena-facade keys rotate`` adds a new RSA key and makes it
the active one; earlier keys stay published (public part only) so tokens they
signed still verify, up to ``KEEP`` keys. Every key has a ``kid`` (its RFC 7638
thumbprint) and the id_token header names it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

ID_TOKEN_ALG = "RS256"
KEEP = 3  # active key plus two retired ones still published for verification


def _generate() -> RSAKey:
    return RSAKey.generate_key(
        2048, parameters={"use": "sig", "alg": ID_TOKEN_ALG}, private=True, auto_kid=True
    )


class KeyRing:
    def __init__(self, keys: list[RSAKey]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self.keys = keys  # newest first; keys[0] signs

    @property
    def active(self) -> RSAKey:
        return self.keys[0]

    @classmethod
    def load_or_create(cls, path: Path) -> KeyRing:
        if path.exists():
            data = json.loads(path.read_text())
            return cls([RSAKey.import_key(k) for k in data["keys"]])
        ring = cls([_generate()])
        ring.save(path)
        return ring

    @classmethod
    def rotate(cls, path: Path) -> KeyRing:
        keys = cls.load_or_create(path).keys if path.exists() else []
        ring = cls([_generate(), *keys][:KEEP])
        ring.save(path)
        return ring

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        body = {"keys": [k.as_dict(private=True) for k in self.keys]}
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(body, handle, indent=1)
        tmp.replace(path)

    def jwks(self) -> dict[str, Any]:
        """The public JWKS (``jwks_uri``): every key still trusted, no private parts."""
        return {"keys": [k.as_dict(private=False) for k in self.keys]}

    def public_set(self) -> KeySet:
        return KeySet.import_key_set(self.jwks())  # type: ignore[arg-type]

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.active
        header = {"alg": ID_TOKEN_ALG, "typ": "JWT", "kid": key.kid}
        return jwt.encode(header, claims, key)
