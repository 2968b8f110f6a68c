"""Benchmarks of glm-proxy (run them with ``scripts/bench``)."""
