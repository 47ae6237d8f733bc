"""The TLS trust of every HTTP and WebSocket exchange: one context for both, so that a
certificate trusted for https:// is trusted for wss:// too.

`ssl.create_default_context()` trusts what OpenSSL trusts on this machine: the system store,
or `SSL_CERT_FILE` / `SSL_CERT_DIR` when they are set (a private CA on a staging). Only when
the machine has no store at all does certifi's bundle stand in for it."""

from __future__ import annotations

import functools
import os
import ssl


def client_context(verify: bool) -> ssl.SSLContext:
    """The context a client connection uses: verifying (the default) or, with insecure_tls,
    not checking the certificate at all."""
    if verify:
        return _trusted(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    return _unverified()


@functools.lru_cache(maxsize=4)
def _trusted(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """A verifying context, built once per trust configuration (loading a store takes time).
    The arguments are the cache's key: OpenSSL reads the variables itself."""
    context = ssl.create_default_context()
    paths = ssl.get_default_verify_paths()
    if not (cert_file or cert_dir) and paths.cafile is None and paths.capath is None:
        import certifi  # a machine without a CA store: httpx's own bundle

        context.load_verify_locations(cafile=certifi.where())
    return context


@functools.lru_cache(maxsize=1)
def _unverified() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # no store to load: nothing is checked
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
