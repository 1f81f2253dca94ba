"""Sign in to the review page as a browser does, for the benchmarks that time it.

The review cookie is a server-side session id, not the token (docs/serving.md, "Review
sessions"), so a benchmark cannot set the token as the cookie: it fetches the sign-in form
(its CSRF cookie and value) and posts the token, and the client keeps the session cookie.
"""

from __future__ import annotations

import re
from typing import Any

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def review_sign_in(client: Any, token: str) -> None:
    """Sign the httpx client in to /review with token; raise naming the status when refused."""
    form = client.get("/review")
    found = _CSRF.search(form.text)
    if found is None:
        raise RuntimeError(f"the review sign-in form has no CSRF value (status {form.status_code})")
    response = client.post(
        "/review/signin", data={"token": token, "csrf": found.group(1)}, follow_redirects=False
    )
    if response.status_code != 303:
        raise RuntimeError(f"review sign-in refused with status {response.status_code}")
