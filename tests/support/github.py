"""A stand-in for GitHub's OAuth and REST endpoints, as GitHubOAuthenticator calls them on a GitHub Enterprise
``github_url`` (``/login/oauth/access_token``, ``/api/v3/user``, and the organization and team membership checks):
https on 127.0.0.1 with the tests' CA, answering for the person the test says is logging in. As with CILogon's
stand-in, its authorize page is not served: the test comes back to the hub's callback as GitHub would send them."""

from __future__ import annotations

import json

from tests.support.httpserver import HttpServer

API = "/api/v3"


class GitHubStandIn(HttpServer):
    def log_in_as(self, login: str, memberships: tuple[str, ...] = ()) -> None:
        """The next code exchanged is ``login``'s, a member of each of ``memberships`` (``org`` or ``org:team``);
        any other membership GitHub is asked about answers 404, as GitHub's does for a non-member."""
        for path in [p for p in self.routes if p.startswith(f"{API}/orgs/")]:
            del self.routes[path]
        self.routes["/login/oauth/access_token"] = (200, json.dumps({"access_token": f"token-of-{login}",
                                                                      "token_type": "bearer", "scope": "read:org"}))
        self.routes[f"{API}/user"] = (200, json.dumps({"login": login, "id": abs(hash(login)) % 10**8,
                                                       "name": login, "email": None}))
        teams = [m.partition(":") for m in memberships if ":" in m]
        self.routes[f"{API}/user/teams"] = (200, json.dumps([{"name": team, "slug": team,
                                                               "organization": {"login": org}}
                                                              for org, _, team in teams]))
        for membership in memberships:
            org, _, team = membership.partition(":")
            self.routes[f"{API}/orgs/{org}/members/{login}"] = (204, "")
            if team:
                self.routes[f"{API}/orgs/{org}/teams/{team}/members/{login}"] = (204, "")
