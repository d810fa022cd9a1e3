# Journeyline: `make up` runs the whole stack locally, `make test` runs the suite, `make bench` measures it.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The dashboard's charting library, from npm (pinned in package-lock.json), served by the API.
ECHARTS := services/api/dashboard/vendor/echarts.min.js
# Debian's Chromium, for the dashboard's browser test (Playwright drives it; no browser download).
CHROMIUM := /usr/bin/chromium
# Apache Kafka's jars (deploy/kafka/pom.xml), resolved once with Maven and used offline afterwards.
KAFKA_LIBS := var/kafka/libs/.resolved

.PHONY: up test test-fast bench install kafka java lint schema compose-config clean

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

# A JRE 17+ and Maven for Apache Kafka: Debian's default JRE (17 on bookworm, 21 on trixie) when missing.
java:
	@java -version 2>&1 | grep -qE 'version "(1[7-9]|[2-9][0-9])' && command -v mvn >/dev/null 2>&1 || { \
	  echo "installing a JRE 17+ and Maven (Apache Kafka)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless maven >/dev/null; }

$(KAFKA_LIBS): deploy/kafka/pom.xml | $(STAMP)
	@$(MAKE) --no-print-directory java
	$(PY) -m deploy.kafka --resolve

kafka: $(KAFKA_LIBS)

install: $(STAMP) $(ECHARTS) $(CHROMIUM) $(KAFKA_LIBS)

up: $(STAMP) $(ECHARTS) $(KAFKA_LIBS)
	$(PY) -m deploy.up

test: $(STAMP) $(ECHARTS) $(CHROMIUM) $(KAFKA_LIBS)
	$(PY) -m pytest -q

# The fast tier for daily work (markers in tests/conftest.py): pure and in-process ClickHouse tests,
# nothing started as a process, on every core (pytest-xdist). `make test` stays the whole suite.
FAST := not stack and not server and not browser and not faults
test-fast: $(STAMP) $(ECHARTS)
	TEST_TIER=fast $(PY) -m pytest -q -n auto -m "$(FAST)" --ignore=tests/security/test_fuzz.py  # all stack; slow to collect

# Every figure beside its reference (README.md, Benchmarks); writes bench/results.md. Not part of test.
bench: $(STAMP) $(KAFKA_LIBS)
	$(PY) -m bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .

schema: $(STAMP)
	$(PY) -m schemas.jsonschema

compose-config:
	docker-compose -f docker-compose.yml config -q

# Keeps var/kafka (the resolved jars): only the data goes.
clean:
	find var -mindepth 1 -maxdepth 1 ! -name kafka -exec rm -rf {} + 2>/dev/null || true
	rm -rf node_modules $(dir $(ECHARTS))
