"""One module per contender, each exposing an ASGI ``app`` with the same four routes.

* ``GET /unused``: small plain-text response, never touches the session;
* ``GET /read``: returns the session's ``counter``;
* ``POST /change``: increments ``counter`` and returns it;
* ``GET /login``: sets ``counter = 0`` so that the session (and its cookie) exists.

Redis contenders read their server's URL from ``BENCH_REDIS_URL``.
"""
