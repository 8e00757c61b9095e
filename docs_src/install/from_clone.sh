# In a clone of the repository: the package, with the FastAPI and Redis extras.
python -m pip install ".[fastapi,redis]"
