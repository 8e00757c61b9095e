# In a clone of the repository: the package with the FastAPI and Redis extras, and
# standard: uvicorn (with websockets) to serve the app.
python -m pip install ".[fastapi,redis,standard]"
