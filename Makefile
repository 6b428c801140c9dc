# Two commands (see README): `make setup` builds .venv and runs the demo; `make test` runs the suite.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test demo clean
setup:
	bash .ci/setup.sh $(VENV)
	$(VENV)/bin/pexsurv demo

test:
	$(PY) -m pytest -q

demo:
	$(VENV)/bin/pexsurv demo

clean:
	rm -rf $(VENV) build *.egg-info
