"""A small shop on starlette-session: log in and out, a typed cart, flash messages."""
