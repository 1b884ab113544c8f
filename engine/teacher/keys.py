"""API keys: read from the environment variable a recipe names, or from the OS keyring.

A key lives only in memory: it is passed to the HTTP client and never written to the
database, logs, events, recipes or exports (a test searches the database file for a
planted key). Keyring entries use service ``distillab`` and the endpoint URL as user
name, so one key per endpoint. ``redact`` removes a key from any text we keep.
"""

from __future__ import annotations

import os

from engine.errors import DistillabError
from engine.teacher.prices import is_local

KEYRING_SERVICE = "distillab"
# Local servers (llama.cpp, vLLM, Ollama) usually accept any key; the client needs a string.
NO_KEY = "no-key"


def _keyring_get(endpoint: str) -> str | None:
    try:
        import keyring
        import keyring.errors

        return keyring.get_password(KEYRING_SERVICE, endpoint)
    except Exception:  # no usable backend (headless Linux, locked store): fall through
        return None


def resolve_key(endpoint: str, api_key_env: str | None, *, use_keyring: bool = True) -> str:
    """The key for ``endpoint``: $api_key_env, else the keyring, else 'no-key' for local hosts."""
    if api_key_env:
        value = os.environ.get(api_key_env)
        if value:
            return value
    if use_keyring:
        stored = _keyring_get(endpoint)
        if stored:
            return stored
    if api_key_env and not is_local(endpoint):
        raise DistillabError(
            f"no API key for teacher endpoint {endpoint}: the environment variable "
            f"{api_key_env} is not set and the keyring has no key for it",
            f"export {api_key_env}=... before starting, or store the key with "
            f"`distillab teacher set-key --endpoint {endpoint}`")
    if not is_local(endpoint) and not api_key_env:
        raise DistillabError(
            f"no API key for teacher endpoint {endpoint}",
            "name the environment variable that holds it in teacher.api_key_env (e.g. "
            f"OPENAI_API_KEY), or `distillab teacher set-key --endpoint {endpoint}`")
    return NO_KEY


def store_key(endpoint: str, key: str) -> None:
    """Save a key in the OS keyring for ``endpoint`` (the GUI's key field calls this)."""
    try:
        import keyring

        keyring.set_password(KEYRING_SERVICE, endpoint, key)
    except Exception as exc:
        raise DistillabError(f"cannot store the key in the OS keyring: {exc}",
                             "use an environment variable named in teacher.api_key_env "
                             "instead") from None


def redact(text: str, key: str | None) -> str:
    """``text`` with every occurrence of ``key`` replaced (keys shorter than 8 are not secret)."""
    if key and len(key) >= 8 and key != NO_KEY:
        return text.replace(key, "[redacted key]")
    return text
