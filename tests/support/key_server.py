"""An identity provider's publishing side under the test's control: its discovery document and its JWKS served
over real HTTP from a thread, and tokens signed with its real private keys (joserfc). For what
`oidc-provider-mock` cannot do: sign with a chosen key id, rotate keys, issue expired or not-yet-valid tokens.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey


class KeyServer:
    """Publishes `keys` (public parts) at `/jwks` and names `issuer` in its discovery document."""

    def __init__(self) -> None:
        self.keys: list[RSAKey] = []
        self.jwks_requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": owner.issuer, "jwks_uri": f"{owner.issuer}/jwks"}
                elif self.path == "/jwks":
                    owner.jwks_requests += 1
                    body = KeySet(list(owner.keys)).as_dict(private=False)
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="key-server")

    def __enter__(self) -> KeyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @staticmethod
    def new_key(kid: str) -> RSAKey:
        return RSAKey.generate_key(2048, {"kid": kid, "use": "sig", "alg": "RS256"})

    def publish(self, kid: str) -> RSAKey:
        """A new key of id `kid`, published beside the others (as a provider does before signing with it)."""
        key = self.new_key(kid)
        self.keys.append(key)
        return key

    def sign(
        self, key: RSAKey, audience: str, *, issuer: str | None = None, kid: str | None = None, **claims: object
    ) -> str:
        """A token signed with `key` (its `kid`, or `kid`, in the header), valid for an hour unless `claims` say
        otherwise."""
        now = int(time.time())
        payload = {"iss": issuer or self.issuer, "aud": audience, "iat": now, "exp": now + 3600, **claims}
        return jwt.encode({"alg": "RS256", "kid": kid or key.kid}, payload, key)
