"""Keeping credentials out of text that leaves an LM client (error messages, logs, traces).

Keys live in two places only: provider environment variables and the userinfo of an `api_base`
(`http://user:key@host/v1`). Anything an LM client reports passes through `redact` first.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")
MASK = "***"


def secret_values() -> list[str]:
    """Environment values that look like credentials (judged by the variable's name)."""
    return [v for k, v in os.environ.items() if len(v) >= 8 and any(m in k.upper() for m in _MARKERS)]


def url_secrets(url: str | None) -> list[str]:
    """The username and password in a URL's userinfo (possibly a key in disguise); very short values
    are left alone so masking them cannot garble a message (the whole URL is replaced first anyway)."""
    if not url:
        return []
    parts = urlsplit(url)
    return [s for s in (parts.username, parts.password) if s and len(s) >= 6]


def url_key(url: str | None) -> str | None:
    """The key an `api_base` carries for its own endpoint: the password of its userinfo."""
    if not url:
        return None
    return urlsplit(url).password or None


def public_url(url: str) -> str:
    """The URL without userinfo and query string: safe to show in messages and to store."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def redact(text: str, api_base: str | None = None) -> str:
    """`text` with every credential value (environment, `api_base` userinfo, the raw URL) masked."""
    if api_base and url_secrets(api_base):
        text = text.replace(api_base, public_url(api_base))
    for value in sorted({*secret_values(), *url_secrets(api_base)}, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text
