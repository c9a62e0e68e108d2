"""Where alerts go: a Telegram chat (python-telegram-bot) and a generic JSON webhook.

A sink's :meth:`send` tries up to ``RetryPolicy.attempts`` times, pausing ``backoff`` seconds
doubled after each failure (capped at ``backoff_max``), and raises :class:`SinkError` when
every try failed or the failure cannot change on another try (a rejected token, a 4xx). The
service then keeps the delivery pending and tries again next round, so a failing sink never
loses an alert.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import ssl
import time
import warnings
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import httpx

from cocoon_pool.alerts.alert import Alert
from cocoon_pool.alerts.config import RetryPolicy, TelegramSettings, WebhookSettings
from cocoon_pool.alerts.errors import SinkError

TELEGRAM_TEXT_LIMIT = 4096
SIGNATURE_HEADER = "X-Cocoon-Signature"
KEY_HEADER = "X-Cocoon-Alert-Key"
Sleep = Callable[[float], None]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The certificate store, loaded once per process (it takes a quarter second), for every
    HTTPS client of the alerts: the bot's two, the webhook's and the keeper health check's."""
    return httpx.create_ssl_context()


class Sink(Protocol):
    name: str

    def send(self, alert: Alert) -> None:
        """Deliver ``alert`` or raise :class:`SinkError`."""

    def close(self) -> None: ...


class _Retryable(Exception):
    """A failure another try may fix; ``wait`` overrides the backoff (Telegram's flood wait)."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


def _with_retries(
    name: str, policy: RetryPolicy, sleep: Sleep, attempt: Callable[[], None]
) -> None:
    for tries in range(1, policy.attempts + 1):
        try:
            attempt()
            return
        except _Retryable as exc:
            if tries == policy.attempts:
                after = f" (after {tries} attempts)" if tries > 1 else ""
                raise SinkError(
                    f"{name}: {exc.reason}{after}", "the alert stays pending and is retried"
                ) from None
            pause = policy.pause(tries)
            sleep(pause if exc.wait is None else min(exc.wait, policy.backoff_max))


# -- Telegram ----------------------------------------------------------------------------


class TelegramSink:
    """Posts each alert as a plain-text message through the Bot API (``sendMessage``)."""

    name = "telegram"

    def __init__(
        self, settings: TelegramSettings, policy: RetryPolicy, sleep: Sleep = time.sleep
    ) -> None:
        from telegram import Bot  # noqa: PLC0415 (only the commands that send need it)
        from telegram.request import HTTPXRequest  # noqa: PLC0415
        from telegram.warnings import PTBDeprecationWarning  # noqa: PLC0415

        # PTB 22 warns (from its own code, whenever it builds a RetryAfter) that retry_after
        # will become a timedelta; _attempt handles both forms, so the warning is only noise.
        warnings.filterwarnings(
            "ignore", message=r".*`retry_after` will be", category=PTBDeprecationWarning
        )

        self.settings = settings
        self.policy = policy
        self.sleep = sleep
        timeout = policy.timeout

        def request() -> HTTPXRequest:
            return HTTPXRequest(
                connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout,
                pool_timeout=timeout, httpx_kwargs={"verify": tls_context()},
            )  # fmt: skip

        self._bot = Bot(
            settings.token.get_secret_value(),
            base_url=f"{settings.api}/bot",
            request=request(),
            get_updates_request=request(),
        )
        # One loop for the sink's life (the bot's HTTP client belongs to the loop it opened
        # on), run in one worker thread so the caller may itself be inside an event loop.
        self._runner = asyncio.Runner()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="telegram-sink")

    def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self._thread.submit(self._runner.run, coroutine).result()

    def _scrub(self, text: str) -> str:
        # The token is part of every Bot API URL, and some errors quote it: never show it.
        return text.replace(self.settings.token.get_secret_value(), "**********")

    def send(self, alert: Alert) -> None:
        text = alert.message()
        if len(text) > TELEGRAM_TEXT_LIMIT:
            text = text[: TELEGRAM_TEXT_LIMIT - 1] + "…"
        _with_retries(self.name, self.policy, self.sleep, lambda: self._attempt(text))

    def _attempt(self, text: str) -> None:
        from telegram import LinkPreviewOptions  # noqa: PLC0415
        from telegram.error import (  # noqa: PLC0415
            BadRequest,
            Forbidden,
            InvalidToken,
            RetryAfter,
            TelegramError,
        )

        async def post() -> None:
            await self._bot.initialize()  # getMe once: checks the token
            await self._bot.send_message(
                chat_id=self.settings.chat_id,
                text=text,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )

        try:
            self._run(post())
        except InvalidToken:
            raise SinkError(
                "telegram: the Bot API rejected the bot token",
                "check the token in telegram_token_env/telegram_token_file (from @BotFather)",
            ) from None
        except (Forbidden, BadRequest) as exc:
            raise SinkError(
                f"telegram: {self._scrub(exc.message)}",
                "check telegram_chat_id and that the bot is a member of that chat",
            ) from None
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait if isinstance(wait, int) else wait.total_seconds()
            raise _Retryable(f"flood control, retry in {seconds} s", float(seconds)) from None
        except TelegramError as exc:  # network errors, 5xx, a moved chat: worth another try
            raise _Retryable(self._scrub(exc.message)) from None

    def close(self) -> None:
        async def shutdown() -> None:
            await self._bot.shutdown()

        try:
            self._run(shutdown())
        finally:
            self._thread.submit(self._runner.close).result()
            self._thread.shutdown()


# -- webhook -----------------------------------------------------------------------------


def signature(secret: bytes, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the exact request body with the shared secret."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def webhook_body(alert: Alert) -> bytes:
    return json.dumps(alert.as_dict(), sort_keys=True, separators=(",", ":")).encode()


class WebhookSink:
    """POSTs each alert as JSON (:meth:`Alert.as_dict`), signed when a secret is set."""

    name = "webhook"

    def __init__(
        self,
        settings: WebhookSettings,
        policy: RetryPolicy,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.sleep = sleep
        self._client = httpx.Client(timeout=policy.timeout, verify=tls_context())

    def send(self, alert: Alert) -> None:
        body = webhook_body(alert)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "cocoon-pool-alerts",
            KEY_HEADER: alert.dedupe_key,
        }
        if self.settings.secret is not None:
            key = self.settings.secret.get_secret_value().encode()
            headers[SIGNATURE_HEADER] = signature(key, body)
        _with_retries(self.name, self.policy, self.sleep, lambda: self._attempt(body, headers))

    def _attempt(self, body: bytes, headers: dict[str, str]) -> None:
        try:
            response = self._client.post(self.settings.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        if status >= 500 or status in (408, 429):
            raise _Retryable(f"HTTP {status}")
        raise SinkError(
            f"webhook: HTTP {status} from the receiver",
            "check webhook_url and the receiver's signature check; retried next round",
        )

    def close(self) -> None:
        self._client.close()
