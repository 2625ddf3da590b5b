# Set-up-free entry points; each one installs what it needs into ./.venv first.
SHELL := /bin/bash
export HF_HUB_OFFLINE := 1
PY := .venv/bin/python

.PHONY: run test test-fast lint bench take screenshots demo walk
run:  ## the desktop workstation on its embedded demo project (resources/demo)
	scripts/bootstrap.sh gui,dev
	$(PY) -m app.main

take:  ## headless: generate a take with the embedded tiny model -> take.wav
	scripts/bootstrap.sh gui,dev
	$(PY) -m musae_core.cli generate --model tiny --prompt "simple melody" --duration 5 --seed 1 --out take.wav

test: lint  ## lint, then the test suite (Qt on the offscreen platform)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

test-fast:  ## the edit loop: the suite without the tests marked slow (no lint)
	scripts/bootstrap.sh gui,dev
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m "not slow and not xwindow"

lint:
	scripts/bootstrap.sh gui,dev
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports  # the layer contracts in pyproject.toml (docs/architecture.md)
	.venv/bin/mypy  # types: [tool.mypy] in pyproject.toml (strict on the public modules)

screenshots:  ## drive the app and save docs/screenshots/*.png
	scripts/bootstrap.sh gui,dev
	QT_QPA_PLATFORM=offscreen $(PY) scripts/screenshots.py

walk:  ## the scripted newcomer walk in a real X window (needs xvfb-run: apt-get install xvfb xauth)
	scripts/bootstrap.sh gui,dev
	env -u QT_QPA_PLATFORM xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) scripts/walk.py

bench:
	scripts/bootstrap.sh gui,dev
	$(PY) bench/generate.py
	$(PY) bench/features.py --frames 100000 --d-sae 4096
	QT_QPA_PLATFORM=offscreen $(PY) bench/gui_latency.py

demo:  ## rebuild the embedded demo (corpus, model, SAE, labels, scorecard) into resources/demo
	scripts/build_demo.sh
