# Journeyline: `make up` runs the whole stack locally, `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: up test install lint schema compose-config clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	@command -v docker-compose >/dev/null 2>&1 || { \
	  echo "installing docker-compose (validates docker-compose.yml offline)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null) \
	  || echo "could not install docker-compose: the compose test will fail until it is installed"; }
	touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(PY) -m deploy.up

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

schema: $(STAMP)
	$(PY) -m schemas.jsonschema

compose-config:
	docker-compose -f docker-compose.yml config -q

clean:
	rm -rf var
