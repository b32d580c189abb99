"""A real JupyterHub (the pip package) for the usage tests: its users and their server activity are set
by the test through JupyterHub's own database models, and its REST API is what the operator reads.

No proxy process runs: the usage service only needs the hub's API, so the proxy is JupyterHub's Proxy
interface with nothing behind it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from communityhub.delivery import serving
from localcluster.controlplane import free_port
from tests.support.kube import wait_for

CONFIG = '''
from jupyterhub.proxy import Proxy


class NoProxy(Proxy):
    should_start = False

    async def add_route(self, routespec, target, data):
        pass

    async def delete_route(self, routespec):
        pass

    async def get_all_routes(self):
        return {{}}


c = get_config()  # noqa
c.JupyterHub.proxy_class = NoProxy
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {port}
c.JupyterHub.services = []
c.JupyterHub.load_roles = []
# What the operator rendered into hub.extraConfig, run as the chart's jupyterhub_config.py runs it:
{extra_config}
'''


class JupyterHubProcess:
    def __init__(self, workdir: Path, extra_config: dict[str, str], token: str) -> None:
        self.workdir, self.token = workdir, token
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        snippets = "\n".join(extra_config[k] for k in sorted(extra_config))
        (workdir / "jupyterhub_config.py").write_text(CONFIG.format(port=self.port, extra_config=snippets))

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hub/api"

    def seed(self, last_server_activity: dict[str, int | None], groups: dict[str, list[str]] | None = None) -> None:
        """Users and how many days ago their server last ran (None: never started one), and their groups."""
        from jupyterhub import orm

        db = orm.new_session_factory(f"sqlite:///{self.workdir / 'jupyterhub.sqlite'}")()
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        made: dict[str, object] = {}
        for name, days in last_server_activity.items():
            user = orm.User(name=name)
            for group in (groups or {}).get(name, []):
                if group not in made:
                    made[group] = orm.Group(name=group)
                    db.add(made[group])
                user.groups.append(made[group])
            db.add(user)
            db.commit()
            if days is not None:
                when = now - dt.timedelta(days=days)
                db.add(orm.Spawner(user=user, name="", last_activity=when))
                user.last_activity = when
            else:
                user.last_activity = now  # logged in today, never started a server
        db.commit()
        db.close()

    def start(self) -> None:
        log = (self.workdir / "jupyterhub.log").open("ab")
        jupyterhub = Path(sys.executable).parent / "jupyterhub"
        self.proc = subprocess.Popen([str(jupyterhub), "-f", "jupyterhub_config.py"], cwd=self.workdir,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, "CHUB_USAGE_TOKEN": self.token,
                                          # The serving checker's registration reads its token too (unused here).
                                          serving.TOKEN_ENV: "serving-check-token-unused"})
        log.close()
        wait_for(self.answers, timeout=60, what="JupyterHub to answer")

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/", timeout=2) as response:
                return bool(json.load(response).get("version"))
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
