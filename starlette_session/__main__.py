"""``python -m starlette_session``: see :mod:`starlette_session.cli`."""

from starlette_session.cli import main

raise SystemExit(main())
