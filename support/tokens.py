"""JWT minting for the suite: one valid kind and the bad kinds the authentication scenarios send."""
from __future__ import annotations

import base64
import json
import time
import warnings

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from support.config import Settings
from support.secrets import redact

TOKEN_KINDS = ("valid", "missing", "malformed", "expired", "wrong_secret", "alg_none", "missing_id")
HOUR = 3600
# Said once per run by secret_notice() instead of PyJWT's warning on every token.
warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)
MIN_HMAC_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}


def secret_notice(settings: Settings) -> str | None:
    """A one-line notice when the signing secret is shorter than its algorithm recommends (RFC 7518 §3.2)."""
    need = MIN_HMAC_BYTES.get(settings.jwt_algorithm.upper())
    have = len(settings.jwt_secret.encode())
    if need and have < need:
        return (f"notice: the signing secret is {have} bytes, shorter than the {need} bytes recommended for "
                f"{settings.jwt_algorithm}; that is the backend's choice, the suite signs with it as given")
    return None


def _claims(settings: Settings, customer_id: int | None, lifetime: int) -> dict:
    claims = {"id": settings.customer_id if customer_id is None else customer_id,
              "email": settings.email, "exp": int(time.time()) + lifetime}
    return claims


def _unsigned(claims: dict) -> str:
    """A token with header alg "none" and an empty signature (PyJWT will not mint one on purpose)."""
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def mint(settings: Settings, kind: str = "valid", customer_id: int | None = None) -> str | None:
    """Return a token of the given kind; None for "missing" (send no token at all)."""
    if kind == "valid":
        return jwt.encode(_claims(settings, customer_id, HOUR), settings.jwt_secret, algorithm=settings.jwt_algorithm)
    if kind == "missing":
        return None
    if kind == "malformed":
        return "this-is-not-a-jwt"
    if kind == "expired":
        return jwt.encode(_claims(settings, customer_id, -HOUR), settings.jwt_secret, algorithm=settings.jwt_algorithm)
    if kind == "wrong_secret":
        return jwt.encode(_claims(settings, customer_id, HOUR), settings.jwt_secret + "-but-wrong",
                          algorithm=settings.jwt_algorithm)
    if kind == "alg_none":
        return _unsigned(_claims(settings, customer_id, HOUR))
    if kind == "missing_id":
        claims = _claims(settings, customer_id, HOUR)
        del claims["id"]
        return jwt.encode(claims, settings.jwt_secret, algorithm=settings.jwt_algorithm)
    raise ValueError(f"unknown token kind {kind!r}; known: {', '.join(TOKEN_KINDS)}")


def describe(token: str | None) -> str:
    """A token as it may appear in output: redacted, never whole."""
    return "no token" if token is None else f"token {redact(token)}"
