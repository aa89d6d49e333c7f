"""Benchmarks (`make bench`, `python -m bench [names]`): never part of the test suite."""
