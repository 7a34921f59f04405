# The two set-up commands of the README. Each does everything on a fresh machine (Debian, Python 3.11).
#   make serve   install into .venv and start the service on port 8080
#   make test    install into .venv (plus the test services' system packages) and run the whole suite
PYTHON ?= python3
VENV := .venv
PIP := $(VENV)/bin/pip
EXTRAS ?= emotivoice,openvino,planner,test,voices,voices-build
# The speaker encoder for custom voices, exported from resemblyzer's weights after installing (build output).
ENCODER := function/engines/matching/data/speaker_encoder.onnx
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: serve test install system-packages

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch==2.13.0 is the CPU wheel on this machine class's disk; pinned in pyproject's emotivoice extra.
$(STAMP): $(VENV)/bin/python pyproject.toml
	$(PIP) install --quiet -e '.[$(EXTRAS)]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

$(ENCODER): $(STAMP)
	$(VENV)/bin/python -m function.engines.matching.export --if-missing --out $(ENCODER)

install: $(STAMP) $(ENCODER)

# promtool validates the alert rules; prometheus itself backs the metrics integration tests.
system-packages:
	@command -v promtool >/dev/null 2>&1 || { \
	  echo "installing Debian package prometheus (promtool)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
# chromium runs the /ui playground's browser tests (Playwright drives Debian's build; it cannot download its own).
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian package chromium (browser tests)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

serve: install
	$(VENV)/bin/emotivoice-fn serve --port $${PORT:-8080}

test: install system-packages
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)
