"""
gunicorn configuration for the TLS listener: `gunicorn -c python:sandbox.trust.gunicorn_tls`.

Loaded by the gunicorn master before Django; see sandbox/trust/tls_server.py.
"""

from pathlib import Path

from sandbox.trust.tls_server import TRUST_BUNDLE, ReloadingServerContext

_contexts = {}


def ssl_context(conf, default_ssl_context_factory):
    key = (conf.certfile, conf.keyfile)
    if key not in _contexts:
        trust_bundle = Path(conf.certfile).parent / TRUST_BUNDLE
        _contexts[key] = ReloadingServerContext(conf.certfile, conf.keyfile, trust_bundle).listening_context()
    return _contexts[key]
