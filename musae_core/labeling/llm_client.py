"""A small client for OpenAI-compatible chat completion endpoints that accept audio input.

Works with hosted services and local servers alike (anything that speaks
``POST {url}/chat/completions``). Standard library only (urllib). It retries transient failures
with exponential backoff, honours ``Retry-After`` on 429, spaces requests to a requests-per-
minute limit, refuses to exceed a per-job request budget and stops the job when the endpoint
cannot be reached several times in a row (a dead server would otherwise eat the budget one
feature at a time). The API key comes from the environment or the OS keyring, is sent only in
the Authorization header, and is scrubbed from every message this module logs or raises; a
``user:password@`` in the URL is sent as HTTP Basic auth and never shown either.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from musae_core.errors import MusaeError
from musae_core.jobs import CancelToken, check

log = logging.getLogger(__name__)

ENV_URL = "MUSAE_LLM_URL"
ENV_MODEL = "MUSAE_LLM_MODEL"
ENV_KEY = "MUSAE_LLM_API_KEY"
KEYRING_SERVICE = "musae"
KEYRING_USER = "llm_api_key"
RETRY_STATUSES = frozenset({408, 409, 425, 500, 502, 503, 504})


class LLMError(MusaeError):
    """The endpoint failed (after retries) or answered something unusable."""


class LLMJobStopped(MusaeError):
    """Not this feature's fault: the whole job stops, and a re-run continues it."""


class LLMBudgetExceeded(LLMJobStopped):
    """The job's request budget is spent; the job stops and a re-run continues it."""


class LLMEndpointUnreachable(LLMJobStopped):
    """Several connection attempts in a row failed: nothing is listening (or the URL is wrong)."""


@dataclass(frozen=True)
class LLMSettings:
    """Endpoint, model and the limits that bound cost and load. ``api_key`` never prints."""

    url: str
    model: str
    api_key: str = field(default="", repr=False)
    timeout_s: float = 120.0
    max_retries: int = 4
    backoff_s: float = 2.0
    max_backoff_s: float = 60.0
    max_retry_after_s: float = 600.0
    requests_per_minute: float = 20.0
    max_requests: int = 500
    max_connection_failures: int = 3  # in a row, across features: then the job stops
    max_audio_seconds: float = 120.0
    max_audio_bytes: int = 8_000_000
    audio_rate: int = 16_000
    temperature: float = 0.2
    json_mode: bool = True
    basic_auth: str = field(default="", repr=False, init=False)  # "user:password" from the URL

    def __post_init__(self) -> None:
        """Move ``user:password@`` out of the URL: urllib would take it for part of the host."""
        parts = urllib.parse.urlsplit(self.url)
        if parts.username is None and parts.password is None:
            return
        if self.api_key:
            raise MusaeError(
                f"LLM URL {redact_url(self.url)!r} carries a user:password@ and an API key is "
                "set too; both would go in the one Authorization header.",
                f"keep one: remove user:password@ from the URL, or unset {ENV_KEY} (and the "
                "keyring entry).",
            )
        user = urllib.parse.unquote(parts.username or "")
        password = urllib.parse.unquote(parts.password or "")
        object.__setattr__(self, "url", redact_url(self.url, keep_query=True))
        object.__setattr__(self, "basic_auth", f"{user}:{password}")

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, use_keyring: bool = True, **overrides: Any
    ) -> LLMSettings:
        """URL, model and key from MUSAE_LLM_URL / _MODEL / _API_KEY; the key may instead
        live in the OS keyring (service 'musae', user 'llm_api_key') when ``keyring`` is
        installed. ``overrides`` win over the environment."""
        env = os.environ if env is None else env
        url = overrides.pop("url", None) or env.get(ENV_URL, "")
        model = overrides.pop("model", None) or env.get(ENV_MODEL, "")
        key = overrides.pop("api_key", None) or env.get(ENV_KEY, "")
        if not key and use_keyring:
            key = _keyring_key()
        if not url or not model:
            raise MusaeError(
                "The LLM labeller needs an endpoint URL and a model name.",
                f"set {ENV_URL} (e.g. http://127.0.0.1:8000/v1 or a hosted OpenAI-compatible "
                f"base URL) and {ENV_MODEL}; put the key in {ENV_KEY} or the OS keyring.",
            )
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise MusaeError(f"LLM URL {redact_url(url)!r} is not http(s).", "use http(s)://...")
        return cls(url=url, model=model, api_key=key, **overrides)

    @property
    def endpoint(self) -> str:
        base = self.url.rstrip("/")
        return base if base.endswith("/chat/completions") else base + "/chat/completions"

    def without_key(self) -> LLMSettings:
        """The settings with no credentials at all (API key and URL user:password)."""
        return replace(self, api_key="")

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every credential string that must never reach a log, error or database."""
        found = [self.api_key]
        if self.basic_auth:
            password = self.basic_auth.partition(":")[2]
            found += [self.basic_auth, password, urllib.parse.quote(password, safe="")]
        return tuple(sorted({s for s in found if s}, key=len, reverse=True))


def _keyring_key() -> str:
    try:
        import keyring
    except ImportError:
        return ""
    try:
        return keyring.get_password(KEYRING_SERVICE, KEYRING_USER) or ""
    except Exception as exc:  # keyring backends raise their own error types
        log.debug("no LLM key from the OS keyring: %s", type(exc).__name__)
        return ""


def redact_url(url: str, keep_query: bool = False) -> str:
    """Scheme, host and path only: query strings and user info may carry secrets."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # a malformed port: show none rather than fail while reporting
        port = None
    if port:
        host = f"{host}:{port}"
    query = parts.query if keep_query else ""
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, query, ""))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class ChatClient:
    """Sends chat requests; one instance per job so its request count is the job's budget."""

    def __init__(
        self,
        settings: LLMSettings,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.requests_made = 0
        self.connection_failures = 0  # in a row; any answer from the server resets it
        self._sleep = sleep
        self._clock = clock
        self._last_start: float | None = None

    def redact(self, text: str) -> str:
        for secret in self.settings.secrets:
            text = text.replace(secret, "***")
        return text

    def complete(self, messages: list[dict[str, Any]], cancel: CancelToken | None = None) -> str:
        """The assistant's text for ``messages``; raises ``LLMError`` after retries."""
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": messages,
            "temperature": self.settings.temperature,
        }
        if self.settings.json_mode:
            body["response_format"] = {"type": "json_object"}
        payload = json.dumps(body).encode("utf-8")
        last_problem = ""
        for attempt in range(self.settings.max_retries + 1):
            check(cancel)
            self._respect_rate_limit(cancel)
            wait, last_problem, response = self._attempt(payload, attempt)
            if response is not None:
                return response
            if attempt < self.settings.max_retries:
                log.info("LLM request failed (%s); retrying in %.1f s", last_problem, wait)
                self._wait(wait, cancel)
        raise LLMError(
            f"The LLM endpoint {redact_url(self.settings.endpoint)} failed after "
            f"{self.settings.max_retries + 1} attempts: {last_problem}.",
            "check the server is up and the URL, model and key are right; re-run the job to "
            "continue where it stopped.",
        )

    def _attempt(self, payload: bytes, attempt: int) -> tuple[float, str, str | None]:
        """One HTTP request: (seconds to wait before retrying, problem, text or None)."""
        if self.requests_made >= self.settings.max_requests:
            raise LLMBudgetExceeded(
                f"The LLM request budget of this job ({self.settings.max_requests}) is spent.",
                "re-run to continue with the remaining features, or raise --llm-max-requests.",
            )
        self.requests_made += 1
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        elif self.settings.basic_auth:
            token = base64.b64encode(self.settings.basic_auth.encode("utf-8")).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        request = urllib.request.Request(
            self.settings.endpoint, data=payload, headers=headers, method="POST"
        )
        backoff = min(self.settings.max_backoff_s, self.settings.backoff_s * 2**attempt)
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            self.connection_failures = 0
            detail = self.redact(_body_excerpt(exc))
            problem = f"HTTP {exc.code} {detail}".strip()
            if exc.code == 429:
                after = parse_retry_after(exc.headers.get("Retry-After"))
                wait = backoff if after is None else min(after, self.settings.max_retry_after_s)
                return wait, problem, None
            if exc.code in RETRY_STATUSES:
                return backoff, problem, None
            raise LLMError(
                f"The LLM endpoint {redact_url(self.settings.endpoint)} refused the request: "
                f"{problem}.",
                "check the model name, key and that the model accepts audio input.",
            ) from None
        except urllib.error.URLError as exc:  # raised before any answer: could not connect
            kind = type(exc.reason).__name__ if isinstance(exc.reason, Exception) else "URLError"
            problem = self.redact(f"{kind}: {exc.reason}")
            self._count_connection_failure(problem)
            return backoff, problem, None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            self.connection_failures = 0  # connected; the answer was slow or cut: this feature
            reason = getattr(exc, "reason", exc)
            return backoff, self.redact(f"{type(exc).__name__}: {reason}"), None
        self.connection_failures = 0
        try:
            return 0.0, "", _message_text(json.loads(raw))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return backoff, f"unreadable response body ({type(exc).__name__})", None

    def _count_connection_failure(self, problem: str) -> None:
        """Stop the job once ``max_connection_failures`` attempts in a row could not connect."""
        self.connection_failures += 1
        limit = self.settings.max_connection_failures
        if limit > 0 and self.connection_failures >= limit:
            raise LLMEndpointUnreachable(
                f"Could not connect to the LLM endpoint {redact_url(self.settings.endpoint)}: "
                f"{self.connection_failures} attempts in a row failed ({problem}), so the job "
                f"stopped after {self.requests_made} requests with nothing half-written; start "
                f"the server or correct {ENV_URL} / --llm-url.",
                "then re-run the same command: labelled features are skipped and the job "
                "continues where it stopped.",
            )

    def _respect_rate_limit(self, cancel: CancelToken | None) -> None:
        rpm = self.settings.requests_per_minute
        now = self._clock()
        if rpm > 0 and self._last_start is not None:
            gap = 60.0 / rpm - (now - self._last_start)
            if gap > 0:
                self._wait(gap, cancel)
                now = self._clock()
        self._last_start = now

    def _wait(self, seconds: float, cancel: CancelToken | None) -> None:
        """Sleep in short steps so Ctrl+C / a GUI cancel stops a long Retry-After wait."""
        remaining = seconds
        while remaining > 0:
            check(cancel)
            step = min(remaining, 0.25)
            self._sleep(step)
            remaining -= step
        check(cancel)


def _body_excerpt(exc: urllib.error.HTTPError) -> str:
    try:
        text = exc.read().decode("utf-8", "replace")
    except Exception:  # a broken error body must not hide the status
        return ""
    return " ".join(text.split())[:300]


def _message_text(response: Any) -> str:
    """``choices[0].message.content`` as text (content may be a list of parts)."""
    content = response["choices"][0]["message"]["content"]
    if isinstance(content, list):
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if not isinstance(content, str):
        raise TypeError("message content is not text")
    return content
