"""One JSON POST with timeouts, retries and clear errors, for the HTTP embedding providers.

The standard library's ``urllib`` is enough here: one small POST per batch, JSON in and
out. It keeps the HTTP providers usable with a bare ``pip install vecdb`` (no extra), and
the server, which embeds for remote clients, needs nothing more to do so.

Connection errors, timeouts, HTTP 429 and 5xx are retried with exponential backoff (a 429's
or 503's ``Retry-After`` is honoured up to ``MAX_RETRY_AFTER`` seconds). When every attempt
failed the caller gets :class:`~vecdb.errors.ServiceUnavailableError`; an answer that says
the request itself is wrong (another 4xx) is an :class:`~vecdb.errors.InvalidArgumentError`
at once, with the server's own message.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from vecdb.errors import InvalidArgumentError, ServiceUnavailableError

__all__ = ["RetryPolicy", "post_json"]

MAX_RETRY_AFTER = 30.0
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# refused/reset connections, DNS failures, timeouts, a server that hung up mid-answer
_RETRY_ERRORS = (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException)


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait for an answer and how often to try again.

    ``retries`` extra attempts after the first; the i-th retry waits
    ``min(backoff * 2**i, max_backoff)`` seconds.

    >>> RetryPolicy(retries=3, backoff=0.5).delays()
    [0.5, 1.0, 2.0]
    """

    timeout: float = 60.0
    retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise InvalidArgumentError(f"timeout must be > 0 seconds, got {self.timeout!r}")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise InvalidArgumentError(f"retries must be an integer >= 0, got {self.retries!r}")
        if not self.backoff >= 0 or not self.max_backoff >= 0:
            raise InvalidArgumentError("backoff and max_backoff must be >= 0 seconds")

    def delays(self) -> list[float]:
        return [min(self.backoff * 2**i, self.max_backoff) for i in range(self.retries)]


def _server_message(body: bytes) -> str:
    """The error text of a JSON error body (OpenAI, Ollama and most servers), else the body."""
    text = body.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return text[:300]
    if isinstance(doc, dict):
        err = doc.get("error", doc.get("detail", doc.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err is not None:
            return str(err)[:300]
    return text[:300]


def _retry_after(err: urllib.error.HTTPError) -> float | None:
    value = err.headers.get("Retry-After") if err.headers is not None else None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER) if value is not None else None
    except ValueError:  # an HTTP date: fall back to our own backoff
        return None


def post_json(
    url: str,
    payload: dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
    policy: RetryPolicy = RetryPolicy(),
    what: str = "embedding endpoint",
    hint: str = "",
) -> Any:
    """POST ``payload`` as JSON to ``url`` and return the decoded JSON answer.

    ``what`` names the service in error messages; ``hint`` is appended to a 401/403 error
    (e.g. where the API key comes from).
    """
    data = json.dumps(payload).encode("utf-8")
    head = {"Content-Type": "application/json", "Accept": "application/json"}
    head.update(headers or {})
    delays = policy.delays()
    last = ""
    for attempt in range(len(delays) + 1):
        wait: float | None = None
        request = urllib.request.Request(url, data=data, headers=head, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=policy.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as e:
            body = e.read() if e.fp is not None else b""
            message = _server_message(body)
            if e.code not in _RETRY_STATUSES:
                extra = f" {hint}" if hint and e.code in (401, 403) else ""
                raise InvalidArgumentError(
                    f"{what} {url} rejected the request: HTTP {e.code}: {message}.{extra}",
                    status=e.code,
                ) from None
            last = f"HTTP {e.code}: {message}"
            wait = _retry_after(e)
        except (
            urllib.error.URLError,
            TimeoutError,
            ConnectionError,
            http.client.HTTPException,
        ) as e:
            reason = getattr(e, "reason", e)
            last = f"{type(reason).__name__}: {reason}"
        else:
            try:
                return json.loads(body)
            except ValueError:
                raise InvalidArgumentError(
                    f"{what} {url} did not answer JSON (got {body[:80]!r}); check base_url"
                ) from None
        if attempt < len(delays):
            time.sleep(delays[attempt] if wait is None else max(wait, delays[attempt]))
    raise ServiceUnavailableError(
        f"{what} {url} is unavailable after {len(delays) + 1} attempts ({last}); check that "
        "the server is running and base_url is right; nothing was written",
        url=url,
    )
