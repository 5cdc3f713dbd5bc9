"""Benchmarks of the book's computation (not part of the test suite): ``python -m benchmarks``."""
