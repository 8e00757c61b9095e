"""The Sentinel failover tests need redis-py; the multi-worker one uvicorn too.

Without them (tox's ``noextras`` run) those modules are not collected. The ``redis_sentinel``
fixture (a master, a replica and three Sentinels) is in ``tests/conftest.py``.
"""

from __future__ import annotations

import importlib.util

collect_ignore = []
if importlib.util.find_spec("redis") is None:
    collect_ignore += ["test_failover.py", "test_revocation.py", "test_workers.py"]
elif importlib.util.find_spec("uvicorn") is None:
    collect_ignore += ["test_workers.py"]
