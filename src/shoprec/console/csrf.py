"""Form tokens and flash messages, both signed with the console's secret.

A CSRF token is the HMAC-SHA256 of the signed-in user's name under a secret drawn when the
console starts: every form carries it in a hidden field, and a POST whose token is missing or
is not the one of the user who sends it is refused (403). Browsers resend HTTP Basic
credentials by themselves, which is what the token defends; a bearer token is never sent by a
browser unasked, so requests signed in with one need no form token.

The message shown after an action travels in a signed cookie, so nobody can craft a link that
makes the console say something it did not do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json


class Signer:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, purpose: str, text: str) -> str:
        message = f"{purpose}\0{text}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def csrf_token(self, user: str) -> str:
        return self._mac("csrf", user)

    def csrf_ok(self, user: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(user), token)

    def flash_cookie(self, user: str, kind: str, text: str) -> str:
        body = base64.urlsafe_b64encode(json.dumps([kind, text]).encode()).decode()
        return f"{body}.{self._mac('flash:' + user, body)}"

    def read_flash(self, user: str, cookie: str | None) -> tuple[str, str] | None:
        """``(kind, text)`` of a cookie this console signed for this user, else None."""
        body, _, mac = (cookie or "").rpartition(".")
        if not body or not hmac.compare_digest(self._mac("flash:" + user, body), mac):
            return None
        try:
            kind, text = json.loads(base64.urlsafe_b64decode(body.encode()))
        except ValueError:
            return None
        return str(kind), str(text)
