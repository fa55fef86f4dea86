"""support.tokens: every kind of token the authentication scenarios send, checked with PyJWT."""
from __future__ import annotations

import time

import jwt
import pytest

from support import tokens
from support.config import Settings

SETTINGS = Settings(jwt_secret="unit-test-secret-0123456789abcdef", customer_id=7, email="unit@example.com")


def decode(token, **options):
    return jwt.decode(token, SETTINGS.jwt_secret, algorithms=["HS256"], **options)


def test_token_kinds_are_all_covered():
    assert set(tokens.TOKEN_KINDS) == {"valid", "missing", "malformed", "expired", "wrong_secret", "alg_none",
                                       "missing_id"}


def test_valid_token_decodes_with_the_secret():
    claims = decode(tokens.mint(SETTINGS, "valid"))
    assert claims["id"] == 7 and claims["email"] == "unit@example.com"
    assert abs(claims["exp"] - (time.time() + 3600)) < 10


def test_valid_token_for_another_customer():
    assert decode(tokens.mint(SETTINGS, "valid", customer_id=99))["id"] == 99


def test_expired_token_is_rejected():
    token = tokens.mint(SETTINGS, "expired")
    with pytest.raises(jwt.ExpiredSignatureError):
        decode(token)
    assert decode(token, options={"verify_exp": False})["exp"] < time.time()


def test_wrong_secret_token_is_rejected():
    with pytest.raises(jwt.InvalidSignatureError):
        decode(tokens.mint(SETTINGS, "wrong_secret"))


def test_alg_none_token():
    token = tokens.mint(SETTINGS, "alg_none")
    assert jwt.get_unverified_header(token)["alg"] == "none"
    assert jwt.decode(token, options={"verify_signature": False})["id"] == 7
    with pytest.raises(jwt.InvalidTokenError):
        decode(token)


def test_missing_id_token_has_every_claim_but_id():
    claims = decode(tokens.mint(SETTINGS, "missing_id"))
    assert "id" not in claims and claims["email"] == "unit@example.com"


def test_malformed_token_is_not_a_jwt():
    token = tokens.mint(SETTINGS, "malformed")
    assert isinstance(token, str) and token
    with pytest.raises(jwt.DecodeError):
        jwt.decode(token, options={"verify_signature": False})


def test_missing_token_is_none():
    assert tokens.mint(SETTINGS, "missing") is None


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown token kind"):
        tokens.mint(SETTINGS, "forged")


@pytest.mark.parametrize("kind", [k for k in tokens.TOKEN_KINDS if k != "missing"])
def test_describe_never_shows_the_whole_token(kind):
    token = tokens.mint(SETTINGS, kind)
    text = tokens.describe(token)
    assert token not in text
    assert token[:6] in text


def test_describe_missing_token():
    assert tokens.describe(None) == "no token"
