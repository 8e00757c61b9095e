scripts/run-example.sh  # serves the example app on http://127.0.0.1:8000 (in .venv)
scripts/test.sh         # ruff, mypy --strict, the docs build and every test (in .venv)
