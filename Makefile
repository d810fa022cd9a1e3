# Journeyline: `make up` runs the whole stack locally, `make test` runs the suite, `make bench` measures it.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The dashboard's charting library, from npm (pinned in package-lock.json), served by the API.
ECHARTS := services/api/dashboard/vendor/echarts.min.js
# Debian's Chromium, for the dashboard's browser test (Playwright drives it; no browser download).
CHROMIUM := /usr/bin/chromium

.PHONY: up test bench install lint schema compose-config clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	@command -v docker-compose >/dev/null 2>&1 || { \
	  echo "installing docker-compose (validates docker-compose.yml offline)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null) \
	  || echo "could not install docker-compose: the compose test will fail until it is installed"; }
	touch $(STAMP)

$(ECHARTS): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(dir $(ECHARTS))
	cp node_modules/echarts/dist/echarts.min.js node_modules/echarts/LICENSE $(dir $(ECHARTS))

$(CHROMIUM):
	@echo "installing chromium (the dashboard's browser test)"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

install: $(STAMP) $(ECHARTS) $(CHROMIUM)

up: $(STAMP) $(ECHARTS)
	$(PY) -m deploy.up

test: $(STAMP) $(ECHARTS) $(CHROMIUM)
	$(PY) -m pytest -q

# Every figure beside its reference (README.md, Benchmarks); writes bench/results.md. Not part of test.
bench: $(STAMP)
	$(PY) -m bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .

schema: $(STAMP)
	$(PY) -m schemas.jsonschema

compose-config:
	docker-compose -f docker-compose.yml config -q

clean:
	rm -rf var node_modules $(dir $(ECHARTS))
