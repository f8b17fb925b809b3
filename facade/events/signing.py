"""Standard Webhooks signatures (standardwebhooks.com spec 1.0.0, symmetric ``v1``).

Every delivery carries ``webhook-id`` (the same on every retry of one message: the
receiver's idempotency key), ``webhook-timestamp`` (Unix seconds of this attempt) and
``webhook-signature`` = ``v1,`` + base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")).
The secret is 32 random bytes, shown as ``whsec_`` + base64, generated per Subscription
and returned once, in the create response.

>>> secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
>>> sign(secret, "msg_1", 1700000000, b'{"a":1}')
'v1,tDnYFrCIK4MQWDoOot4FXQ7/xKQ3Ta7J5hEfw60KmoA='
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    return "msg_" + secrets.token_urlsafe(18).replace("-", "A").replace("_", "B")


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(PREFIX))
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


def hub_signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """athena's push platform: ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>``."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256=").strip().lower())
