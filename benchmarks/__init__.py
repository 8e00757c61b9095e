"""Benchmark suite for starlette-session: see benchmarks/README.md."""
