"""Single sign-on through an organisation's own identity provider (OpenID Connect), with Authlib
for the authorisation code flow and PKCE, and joserfc (Authlib's JOSE) for the ID token.

A sign-in is a ceremony like a passkey's (readmodel/passkeys.ceremonies): its secret lives on
the server, is used once, for five minutes, and only by the browser that started it (the
handle is an HttpOnly cookie). The state, nonce and PKCE verifier are derived from that secret,
so none is kept apart from it and a replayed state finds nothing. The ID token must be signed
by a key of the provider's published set, by the issuer configured (RFC 9207's `iss` on the
answer too), for this client, unexpired, with the nonce sent. Members are matched to existing
members by the configured claim, never made by the provider.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from schemas.settings import SignInProvider

# Discovery documents and key sets are read again after this long (keys rotate), and at once
# when a token names a key not in the set.
METADATA_SECONDS = 3600.0
# ID tokens are checked against this machine's clock, give or take a little.
LEEWAY_SECONDS = 60
BACK_CHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# Algorithms an ID token may be signed with: asymmetric only, so that a token signed with the
# client secret (or "none") is not taken for the provider's.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


class SignInRefused(ValueError):
    """What the provider answered did not prove who the member is; the text names the check
    that failed, for the audit (nothing secret in it)."""


@dataclass(frozen=True, slots=True)
class Proof:
    """Who the provider says signed in: the mapped claim's value and the provider's session."""

    sign_in_name: str
    provider_session: str | None  # a hash of issuer and `sid`, for back-channel sign-out
    authenticated_at: datetime | None  # `auth_time`: when the member last proved who they are there


def _derived(secret: bytes, label: str) -> str:
    return urlsafe_b64encode(hmac.new(secret, label.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()


def state_of(secret: bytes) -> str:
    return _derived(secret, "state")


def nonce_of(secret: bytes) -> str:
    return _derived(secret, "nonce")


def provider_session_of(issuer: str, sid: str) -> str:
    return hashlib.sha256(f"{issuer}\n{sid}".encode()).hexdigest()


class IdentityProviders:
    """The configured providers, their discovery documents and key sets (kept per process)."""

    def __init__(self, providers: tuple[SignInProvider, ...], http: httpx.Client | None = None) -> None:
        self.providers = {p.organisation: p for p in providers}
        self._http = http or httpx.Client(timeout=10.0)
        self._lock = threading.Lock()
        self._metadata: dict[str, tuple[float, dict[str, Any]]] = {}
        self._keys: dict[str, tuple[float, KeySet]] = {}

    def get(self, organisation: str) -> SignInProvider | None:
        return self.providers.get(organisation)

    def metadata(self, provider: SignInProvider) -> dict[str, Any]:
        with self._lock:
            cached = self._metadata.get(provider.organisation)
        if cached and time.monotonic() - cached[0] < METADATA_SECONDS:
            return cached[1]
        try:
            answer = self._http.get(f"{provider.issuer.rstrip('/')}/.well-known/openid-configuration")
            answer.raise_for_status()
            document = answer.json()
        except (httpx.HTTPError, ValueError) as error:
            raise SignInRefused("the identity provider did not answer") from error
        if document.get("issuer") != provider.issuer:
            raise SignInRefused("the identity provider's discovery document names another issuer")
        with self._lock:
            self._metadata[provider.organisation] = (time.monotonic(), document)
        return document

    def keys(self, provider: SignInProvider, *, again: bool = False) -> KeySet:
        with self._lock:
            cached = self._keys.get(provider.organisation)
        if cached and not again and time.monotonic() - cached[0] < METADATA_SECONDS:
            return cached[1]
        try:
            answer = self._http.get(self.metadata(provider)["jwks_uri"])
            answer.raise_for_status()
            keys = KeySet.import_key_set(answer.json())
        except (httpx.HTTPError, ValueError, KeyError, JoseError) as error:
            raise SignInRefused("the identity provider's keys could not be read") from error
        with self._lock:
            self._keys[provider.organisation] = (time.monotonic(), keys)
        return keys

    def _client(self, provider: SignInProvider, redirect_uri: str) -> OAuth2Client:
        """Authlib's client for the provider: PKCE (S256), and the client secret or, with a
        private key, a signed assertion for the token endpoint (private_key_jwt)."""
        key = provider.client_private_key
        secret = (key or provider.client_secret)
        assert secret is not None  # the settings ask for one of them
        client = OAuth2Client(client_id=provider.client_id, client_secret=secret.get_secret_value(),
                              scope="openid email profile", redirect_uri=redirect_uri, code_challenge_method="S256",
                              token_endpoint_auth_method="private_key_jwt" if key else "client_secret_basic",
                              timeout=10.0)
        if key:
            client.register_client_auth_method(PrivateKeyJWT(self.metadata(provider)["token_endpoint"]))
        return client

    def authorization_url(self, provider: SignInProvider, redirect_uri: str, secret: bytes, *,
                          again: bool = False) -> str:
        """Where to send the browser: the provider's sign-in, with this ceremony's state, nonce
        and PKCE challenge. `again`: the member must prove who they are afresh (confirming it is
        them before break-glass or an account change), not ride on the provider's session."""
        endpoint = self.metadata(provider)["authorization_endpoint"]
        fresh = {"prompt": "login", "max_age": "0"} if again else {}
        with self._client(provider, redirect_uri) as client:
            url, _ = client.create_authorization_url(
                endpoint, state=state_of(secret), nonce=nonce_of(secret),
                code_verifier=_derived(secret, "verifier"), **fresh)
        return str(url)

    def finish(self, provider: SignInProvider, redirect_uri: str, secret: bytes, answer: dict[str, str],
               now: datetime) -> Proof:
        """The member's proof from the provider's answer at the redirect address: the state is
        this ceremony's, the code is exchanged (with the PKCE verifier) and the ID token checked."""
        if "error" in answer:
            raise SignInRefused(f"the identity provider answered {answer['error'][:60]}")
        if not hmac.compare_digest(answer.get("state", ""), state_of(secret)):
            raise SignInRefused("the state is not this sign-in's")
        issuer = self.metadata(provider)["issuer"]
        if "iss" in answer and answer["iss"] != issuer:  # RFC 9207: an answer from another provider
            raise SignInRefused("the answer came from another issuer")
        if not answer.get("code"):
            raise SignInRefused("no code in the answer")
        token = self.exchange(provider, redirect_uri, secret, answer["code"])
        claims = self.verify_id_token(provider, token["id_token"], nonce=nonce_of(secret), now=now,
                                      access_token=token.get("access_token"))
        value = claims.get(provider.claim)
        if value is None and token.get("access_token"):
            # Many providers keep profile claims (email, name) for their userinfo endpoint.
            value = self._userinfo(provider, token["access_token"], claims["sub"]).get(provider.claim)
        if not isinstance(value, str) or not value:
            raise SignInRefused(f"the ID token has no {provider.claim} claim")
        sid = claims.get("sid")
        auth_time = claims.get("auth_time")
        return Proof(sign_in_name=value,
                     provider_session=provider_session_of(issuer, sid) if isinstance(sid, str) and sid else None,
                     authenticated_at=datetime.fromtimestamp(auth_time, UTC) if isinstance(auth_time, int) else None)

    def exchange(self, provider: SignInProvider, redirect_uri: str, secret: bytes, code: str) -> dict[str, Any]:
        """The provider's tokens for the code, sent with the ceremony's PKCE verifier."""
        try:
            with self._client(provider, redirect_uri) as client:
                token = client.fetch_token(self.metadata(provider)["token_endpoint"], code=code,
                                           code_verifier=_derived(secret, "verifier"))
        except Exception as error:  # Authlib raises its own errors and httpx's
            raise SignInRefused("the identity provider refused the code") from error
        if "id_token" not in token:
            raise SignInRefused("the identity provider sent no ID token")
        return dict(token)

    def _userinfo(self, provider: SignInProvider, access_token: str, subject: str) -> dict[str, Any]:
        endpoint = self.metadata(provider).get("userinfo_endpoint")
        if not endpoint:
            return {}
        try:
            answer = self._http.get(endpoint, headers={"Authorization": f"Bearer {access_token}"})
            answer.raise_for_status()
            found = answer.json()
        except (httpx.HTTPError, ValueError) as error:
            raise SignInRefused("the identity provider's userinfo did not answer") from error
        if not isinstance(found, dict) or found.get("sub") != subject:  # OpenID Connect Core 5.3.2
            raise SignInRefused("the userinfo is about someone else")
        return found

    def _decoded(self, provider: SignInProvider, token: str) -> jwt.Token:
        registry = JWSRegistry(algorithms=ALGORITHMS)
        try:
            try:
                return jwt.decode(token, self.keys(provider), algorithms=ALGORITHMS, registry=registry)
            except (ValueError, JoseError):
                # Perhaps a key the provider rotated in since the set was read: read it once more.
                return jwt.decode(token, self.keys(provider, again=True), algorithms=ALGORITHMS, registry=registry)
        except (ValueError, JoseError) as error:
            raise SignInRefused("the token's signature is not the identity provider's") from error

    def verify_id_token(self, provider: SignInProvider, id_token: str, *, nonce: str, now: datetime,
                        access_token: str | None = None) -> dict[str, Any]:
        """The ID token's claims, once its signature, issuer, audience, times and nonce hold."""
        decoded = self._decoded(provider, id_token)
        issuer = self.metadata(provider)["issuer"]
        options = {"iss": {"essential": True, "value": issuer},
                   "aud": {"essential": True, "value": provider.client_id}}
        params: dict[str, Any] = {"nonce": nonce, "client_id": provider.client_id}
        if access_token:
            params["access_token"] = access_token
        claims = CodeIDToken(decoded.claims, decoded.header, options, params)
        try:
            claims.validate(now=int(now.timestamp()), leeway=LEEWAY_SECONDS)
        except JoseError as error:
            raise SignInRefused(f"the ID token failed its check: {error.description}") from error
        return dict(claims)

    def verify_logout_token(self, provider: SignInProvider, logout_token: str, now: datetime) -> str:
        """The provider session a back-channel logout token ends (OpenID Connect Back-Channel
        Logout 1.0, section 2.6). Clients are registered with the session required, so a token
        without `sid` is refused rather than taken to end every session of the member."""
        decoded = self._decoded(provider, logout_token)
        claims = decoded.claims
        issuer = self.metadata(provider)["issuer"]
        registry = jwt.JWTClaimsRegistry(now=int(now.timestamp()), leeway=LEEWAY_SECONDS,
                                         iss={"essential": True, "value": issuer},
                                         aud={"essential": True, "value": provider.client_id},
                                         iat={"essential": True})
        try:
            registry.validate(claims)
        except JoseError as error:
            raise SignInRefused(f"the logout token failed its check: {error.description}") from error
        events = claims.get("events")
        if not isinstance(events, dict) or BACK_CHANNEL_EVENT not in events:
            raise SignInRefused("the logout token is not a back-channel logout")
        if "nonce" in claims:  # an ID token passed off as a logout token
            raise SignInRefused("the logout token has a nonce")
        sid = claims.get("sid")
        if not isinstance(sid, str) or not sid:
            raise SignInRefused("the logout token names no session")
        return provider_session_of(issuer, sid)
