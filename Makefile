# Set-up lives here: `make serve` runs the server on the shipped models, `make test` runs the tests.
# Both build what they need first (system packages where missing, the virtual environment).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Text-to-speech engines (training data and tests), PortAudio (microphone client); Prometheus with promtool,
# nginx and docker-compose (the tests of the deployment's configuration under deploy/).
SYSTEM_PACKAGES := espeak-ng flite festival festvox-kallpc16k festvox-us-slt-hts libportaudio2 sox \
	prometheus nginx docker-compose

.PHONY: serve test system venv dev stubs

serve: venv
	$(BIN)/rnnvoice serve

test: system dev
	$(BIN)/python -m pytest

# Installs missing Debian packages (needs root, as on CI); skipped when all are present.
system:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

venv: $(BIN)/python
	$(BIN)/pip install -q -e .

dev: $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"

# Regenerates the gRPC stubs from protos/ (tests check they are in sync).
stubs: dev
	$(BIN)/python -m rnnvoice.protos.generate
