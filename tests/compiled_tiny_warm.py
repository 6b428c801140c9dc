"""Imported by a mutation run's fork server (``PYTHONPATH=tests PRELOAD="... compiled_tiny_warm"``):
compiles the models of ``tests/compiled_tiny.py`` once, before the server forks a pytest per
mutant. Never imported by the tests."""

import compiled_tiny

compiled_tiny.warm()
