"""TLS client contexts: the system's trust store, plus the operator's extra CA bundle when one is set
(a provider's own CA for its mail relay, OIDC issuers or hubs), for SMTP and HTTP alike."""

from __future__ import annotations

import functools
import ssl


@functools.lru_cache(maxsize=4)
def client_context(extra_ca_file: str = "") -> ssl.SSLContext:
    """Verifying context; read once per process (the chart restarts the operator when the bundle changes).

    Raises OSError or ssl.SSLError for a missing or malformed bundle.
    """
    context = ssl.create_default_context()
    if extra_ca_file:
        context.load_verify_locations(cafile=extra_ca_file)
    return context
