"""Imported by a mutation run's fork server (``PYTHONPATH=tests PRELOAD="... fitting_tiny_warm"``):
compiles the models of ``tests/fitting_tiny.py`` once, before the server forks a pytest per
mutant. Never imported by the tests."""

import fitting_tiny

fitting_tiny.warm()
