"""Tests: run with `make test` (or `python -m pytest` from the repo root)."""
