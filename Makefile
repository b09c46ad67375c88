# tagd: `make run` starts the demo station, `make test` installs what the tests need and runs them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := mosquitto mosquitto-clients pcscd libpcsclite-dev vsmartcard-vpcd swig python3-venv python3-dev gcc openssl \
	chromium chromium-driver fonts-noto-cjk poppler-utils zbar-tools
PY_SOURCES := daemon drivers protocols
DOC_TOOLS := docs/tagd_docs

.PHONY: run test lint typecheck unit deps venv specs bench fuzz clean soak docs i18n

run: deps venv
	$(BIN)/tagd demo

test: deps venv specs lint typecheck unit

# Debian packages the tests need: mosquitto, pcscd with vpcd, and what pyscard builds with (swig, headers, gcc);
# poppler-utils and zbar-tools read label PDFs back (pdftoppm, zbarimg, pdftotext), fonts-noto-cjk prints kana.
# npm (Debian's, unless an npm is already installed, e.g. with NodeSource's nodejs) for `make specs`.
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing (run make as root, or apt-get install them)"; exit 1; fi; \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The venv is rebuilt when pyproject.toml changes. The editable install finds new modules by itself.
# The gettext catalogs (.po in the repo) are compiled to .mo beside them (the wheel compiles its own: setup.py).
LOCALES := daemon/i18n/locale
MO_FILES := $(patsubst %.po,%.mo,$(wildcard $(LOCALES)/*/LC_MESSAGES/tagd.po))
venv: $(VENV)/.installed $(MO_FILES)
%.mo: %.po $(VENV)/.installed
	$(BIN)/pybabel compile -D tagd -i $< -o $@

# Staff texts: extract every _() / N_() into the template, then merge it into each language's .po file.
i18n: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k _t --no-location --no-wrap --sort-output --project tagd \
	  -o $(LOCALES)/tagd.pot protocols daemon
	$(BIN)/pybabel update -D tagd -i $(LOCALES)/tagd.pot -d $(LOCALES) --no-fuzzy-matching --ignore-obsolete --no-wrap
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

# The official AsyncAPI JSON schemas (npm package @asyncapi/specs, Apache-2.0), pinned; tests/test_contract.py
# validates docs/asyncapi.yaml against them. Installed under build/, not kept in git.
ASYNCAPI_SPECS_VERSION := 6.11.1
specs: build/npm/.specs-$(ASYNCAPI_SPECS_VERSION)
build/npm/.specs-$(ASYNCAPI_SPECS_VERSION):
	mkdir -p build/npm
	npm install --silent --no-audit --no-fund --no-save --prefix build/npm @asyncapi/specs@$(ASYNCAPI_SPECS_VERSION)
	touch $@

# ruff, then the layering contracts in pyproject.toml ([tool.importlinter]: protocols < drivers < daemon, no cycles).
lint:
	$(BIN)/ruff check $(PY_SOURCES) $(DOC_TOOLS) tests bench
	$(BIN)/lint-imports --no-cache

# mypy cannot follow the editable import hook, so it reads the sources through a tagd/ link tree.
typecheck:
	mkdir -p build/typecheck/tagd
	for d in $(PY_SOURCES); do ln -sfn ../../../$$d build/typecheck/tagd/$$d; done
	MYPYPATH=build/typecheck:docs $(BIN)/mypy --strict -p tagd.protocols -p tagd.drivers -p tagd.daemon -p tagd_docs

# The generated docs: events.md, schemas/ and asyncapi.yaml (a test fails when they drift from the models).
docs: venv
	PYTHONPATH=docs $(BIN)/python -m tagd_docs.events > docs/events.md
	PYTHONPATH=docs $(BIN)/python -m tagd_docs.schemas docs

unit:
	$(BIN)/pytest -q -p no:cacheprovider --cov --cov-report=term

bench: venv
	@for b in bench/bench_*.py; do [ -e "$$b" ] || continue; echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The footprint benchmark's load for 30 minutes (RSS growth; not part of CI): SOAK_SECONDS overrides it.
soak: venv
	SOAK_SECONDS=$${SOAK_SECONDS:-1800} $(BIN)/python bench/bench_footprint.py

# The bad-input properties (test_fuzz_*, marked `fuzz` in tests/conftest.py), 100,000 examples each:
# long (see docs/reliability.md), not part of CI, which runs them at 300.
fuzz: venv
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q -p no:cacheprovider -m fuzz --hypothesis-show-statistics tests

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
