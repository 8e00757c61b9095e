scripts/run-example.sh  # installs into .venv and serves the example app on http://127.0.0.1:8000
scripts/test.sh         # installs into .venv and runs ruff, mypy --strict, the docs build and every test
