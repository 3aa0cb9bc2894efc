"""A real SMTP server (aiosmtpd) on the loopback interface, for delivery tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Collector:
    """Keeps every message the server accepts; refuses recipients listed in `refused`."""

    def __init__(self, refused: frozenset[str] = frozenset()) -> None:
        self.messages: list[EmailMessage] = []
        self.refused = refused

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted"


def free_port() -> int:
    """A TCP port nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def smtp_server(
    port: int,
    *,
    refused: frozenset[str] = frozenset(),
    credentials: tuple[str, str] | None = None,
) -> Iterator[Collector]:
    handler = Collector(refused)
    options: dict[str, Any] = {}
    if credentials is not None:
        expected = (credentials[0].encode(), credentials[1].encode())

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
        ) -> AuthResult:
            given = (
                (auth_data.login, auth_data.password)
                if isinstance(auth_data, LoginPassword)
                else None
            )
            ok = given == expected
            # handled=False: aiosmtpd answers the client (535 on failure) itself.
            return AuthResult(success=ok, handled=False)

        options = {"authenticator": authenticator, "auth_require_tls": False, "auth_required": True}
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()
