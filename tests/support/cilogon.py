"""A stand-in for CILogon's OAuth2 endpoints, as CILogonOAuthenticator calls them (``https://<cilogon_host>``
``/oauth2/token`` and ``/oauth2/userinfo``): https on 127.0.0.1 with the tests' CA, answering for the person the
test says is logging in. Its authorize page is not served: a browser would go there, so the test does what CILogon
would do once the person has signed in at their institution, which is to send them to the hub's callback with a
code and the hub's own state."""

from __future__ import annotations

import json
from typing import Any

from tests.support.httpserver import HttpServer


class CILogonStandIn(HttpServer):
    def log_in_as(self, claims: dict[str, Any]) -> None:
        """The next code exchanged is this person's: a token, then their claims (``idp`` and the username claim
        their institution releases, as CILogon's userinfo has them)."""
        token = f"token-of-{claims.get('eppn') or claims.get('email') or 'someone'}"
        self.routes["/oauth2/token"] = (200, json.dumps({"access_token": token, "token_type": "Bearer"}))
        self.routes["/oauth2/userinfo"] = (200, json.dumps(claims))
