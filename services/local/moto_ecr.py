"""moto's server, with ECR's GetAuthorizationToken handing out this stack's own registry login.

moto's token is ``AWS:<account>-auth-token`` on every install, so a registry guarded by it is
guarded by a password everyone knows. The local stack creates a random login per stack
(``registry-credentials.json``, mode 0600, see ``services.local_stack``); this entry point makes
moto's ECR answer with it, so every client (ours, ``aws ecr get-login-password``, the SDK) gets
the login the stack's registry accepts. Everything else is moto's own server::

    python -m services.local.moto_ecr --registry-credentials PATH [moto.server's options]
"""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["CREDENTIALS_OPTION", "main", "read_credentials"]

CREDENTIALS_OPTION = "--registry-credentials"


def read_credentials(path: Path) -> tuple[str, str]:
    """The (user, password) stored at ``path``."""
    stored = json.loads(path.read_text(encoding="utf-8"))
    return str(stored["user"]), str(stored["password"])


def _install(path: Path) -> None:
    from moto.core.responses import ActionResult
    from moto.ecr.responses import ECRResponse

    def get_authorization_token(self: Any) -> Any:
        # As moto's own, with the stack's login instead of the fixed one; read per call, so a
        # renewed login is handed out without a restart.
        user, password = read_credentials(path)
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        registry_ids = self._get_param("registryIds") or [self.current_account]
        return ActionResult(
            {
                "authorizationData": [
                    {
                        "authorizationToken": token,
                        "expiresAt": datetime.now(UTC) + timedelta(hours=12),  # as ECR's
                        "proxyEndpoint": f"https://{registry_id}.dkr.ecr.{self.region}.amazonaws.com",
                    }
                    for registry_id in registry_ids
                ]
            }
        )

    ECRResponse.get_authorization_token = get_authorization_token  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if CREDENTIALS_OPTION not in args:
        raise SystemExit(f"usage: python -m services.local.moto_ecr {CREDENTIALS_OPTION} PATH [moto options]")
    at = args.index(CREDENTIALS_OPTION)
    path = Path(args[at + 1])
    del args[at : at + 2]
    read_credentials(path)  # unreadable: refuse to start rather than hand out nothing
    _install(path)
    from moto.server import main as moto_main

    moto_main(args)


if __name__ == "__main__":
    main()
