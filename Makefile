# Set-up-free entry points; each one installs what it needs into ./.venv first.
SHELL := /bin/bash
export HF_HUB_OFFLINE := 1
export QT_QPA_PLATFORM ?= offscreen
PY := .venv/bin/python

.PHONY: run test lint bench
run:  ## generate a take with the embedded tiny model and write take.wav
	scripts/bootstrap.sh dev
	$(PY) -m musae_core.cli generate --model tiny --prompt "simple melody" --duration 5 --seed 1 --out take.wav

test: lint  ## lint, then the test suite
	$(PY) -m pytest -q

lint:
	scripts/bootstrap.sh dev
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

bench:
	scripts/bootstrap.sh dev
	$(PY) bench/generate.py
