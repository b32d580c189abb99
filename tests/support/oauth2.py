"""A stand-in OAuth2 provider without discovery (as Canvas is): https on 127.0.0.1 with the tests' CA, a token
endpoint and a user-data endpoint answering for the user the test says is logging in."""

from __future__ import annotations

import json
from typing import Any

from tests.support.httpserver import HttpServer


class OAuth2Provider(HttpServer):
    @property
    def endpoints(self) -> dict[str, str]:
        return {"authorizeUrl": f"{self.base}/login/oauth2/auth", "tokenUrl": f"{self.base}/login/oauth2/token",
                "userdataUrl": f"{self.base}/api/v1/users/self"}

    def log_in_as(self, user: dict[str, Any]) -> None:
        """The next code exchanged is this user's: their token, then their data."""
        token = f"token-of-{user.get('login_id', 'someone')}"
        self.routes["/login/oauth2/token"] = (200, json.dumps({"access_token": token, "token_type": "Bearer"}))
        self.routes["/api/v1/users/self"] = (200, json.dumps(user))
