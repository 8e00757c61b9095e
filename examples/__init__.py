"""Runnable examples; ``uvicorn examples.fastapi_app.main:app`` from the repository root."""
