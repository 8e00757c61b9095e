# Or build a wheel and an sdist (into dist/) and install the wheel wherever you need it.
python -m pip install build
python -m build
python -m pip install \
    "dist/starlette_session-1.0.0-py3-none-any.whl[fastapi,redis,standard]"
