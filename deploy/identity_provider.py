"""The stand-in identity provider (deploy/oidc/provider.mjs: panva's oidc-provider on Node) that
the demo and the tests sign members in through, as a council's own provider would. Its sign-in
form takes any password for a configured login: a stand-in, never a real provider."""

from __future__ import annotations

import json
import secrets
import select
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROVIDER = ROOT / "deploy" / "oidc" / "provider.mjs"
STARTS, READY_WITHIN_S = 3, 30  # it says ready within a second or two here


def available() -> bool:
    """Node and the provider's packages (deploy/dev installs them with npm ci)."""
    return shutil.which("node") is not None and (PROVIDER.parent / "node_modules" / "oidc-provider").is_dir()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class StandInProvider:
    """Started on a free port of 127.0.0.1 for the platform at `origin`, with clients that prove
    themselves with `secret` (`clients`) or a private key (`keyed_clients`: client id to its
    public JWK), and the accounts that may sign in (login: claims)."""

    def __init__(self, directory: Path, origin: str, *, organisation: str, accounts: dict[str, dict[str, Any]],
                 clients: tuple[str, ...] = ("journeys",),
                 keyed_clients: dict[str, dict[str, Any]] | None = None) -> None:
        if not available():
            raise RuntimeError("the stand-in identity provider needs Node and deploy/oidc/node_modules "
                               "(deploy/dev installs them with npm ci)")
        self.organisation = organisation
        self.secret = secrets.token_urlsafe(32)
        directory.mkdir(parents=True, exist_ok=True)
        self.log = (directory / "identity-provider.log").open("w")
        # Node has been seen to hang at its start (every thread waiting, nothing listening) once in
        # many runs: one that has not said it is ready in time is stopped and started again.
        for _attempt in range(STARTS):
            self.issuer = f"http://127.0.0.1:{_free_port()}"
            back = f"{origin}/sign-in/with/{organisation}"
            config = {"issuer": self.issuer, "accounts": accounts, "clients": [
                {"client_id": client, "client_secret": self.secret, "redirect_uris": [f"{back}/back"],
                 "backchannel_logout_uri": f"{back}/signed-out", "backchannel_logout_session_required": True}
                for client in clients] + [
                {"client_id": client, "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [public]},
                 "redirect_uris": [f"{back}/back"]}
                for client, public in (keyed_clients or {}).items()]}
            path = directory / "identity-provider.json"  # the client secret: the directory is the state's
            path.write_text(json.dumps(config))
            path.chmod(0o600)
            self.process = subprocess.Popen(["node", str(PROVIDER), str(path)], stdout=subprocess.PIPE,
                                            stderr=self.log, text=True)
            if self._said_ready(READY_WITHIN_S):
                return
            self._stop()
            self.log.write(f"the stand-in identity provider did not say it was ready in {READY_WITHIN_S} s\n")
        self.log.close()
        raise RuntimeError(f"the stand-in identity provider did not start: see {self.log.name}")

    def _said_ready(self, within: float) -> bool:
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], within)
        return bool(readable) and self.process.stdout.readline().strip() == "ready"

    def setting(self, *, name: str = "Town Council", client_id: str = "journeys",
                claim: str = "email") -> dict[str, Any]:
        """The platform's SIGN_IN_PROVIDERS entry for it."""
        return {"organisation": self.organisation, "name": name, "issuer": self.issuer, "client_id": client_id,
                "client_secret": self.secret, "claim": claim}

    def close(self) -> None:
        self._stop()
        self.log.close()

    def _stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
