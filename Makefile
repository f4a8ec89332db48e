# Two commands for a fresh machine with Python 3.11 (see README):
#   make run    install into .venv if needed, then run the default end-to-end job (kedro run)
#   make test   install into .venv (with test extras) if needed, then run the test suite
#   make notebook  install the notebook extra (Jupyter), then start `kedro jupyter lab` (run `make run` first)
#   make benchmark-ci         the CI profile of the benchmark (conf/ci), then the check against benchmarks/reference/
#   make benchmark-reference  the CI profile, then benchmarks/reference/ci_rows.csv and ci_meta.json rewritten
#   make readme-tables        the README's benchmark tables rewritten from the pipeline's results.md files
#   make benchmark-tables     tables made from several runs' rows (peer beside causal_pima, per-seed tables), for the README
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export MLFLOW_DISABLE_TELEMETRY := true
export PYTHONHASHSEED := 0

.PHONY: install run test notebook benchmark benchmark-ci benchmark-reference readme-tables benchmark-tables viz mlflow-ui clean

# the stamp's name holds pyproject.toml's checksum: a changed file gives a new name (and an install), an
# unchanged one does not, however new its mtime (a fresh clone, a checkout): order-only prerequisite
$(STAMP): | pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	# torch==2.13.0 from the configured index: on Linux PyPI that is the CUDA build (README "PyTorch: CPU build, GPU")
	$(BIN)/python -m pip install -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/kedro run

test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile tests

notebook: install
	$(BIN)/python -m pip install -e ".[test,notebook]"
	$(BIN)/kedro jupyter lab

benchmark: install
	$(BIN)/kedro run --pipelines benchmark

# the CI profile: one torch thread per ParallelRunner worker (deterministic rows for a machine and thread
# count); BENCHMARK_NAMESPACES=benchmark.collider.seed_0,benchmark.report recomputes some rows only
CI_PROFILE = OMP_NUM_THREADS=1 $(BIN)/kedro run --env ci --pipelines benchmark --runner ParallelRunner \
	$(if $(BENCHMARK_NAMESPACES),--namespaces $(BENCHMARK_NAMESPACES))

benchmark-ci: install
	$(CI_PROFILE)
	$(BIN)/python -m causal_pima.benchmark_check compare

benchmark-reference: install
	start=$$(date +%s) && $(CI_PROFILE) && \
	$(BIN)/python -m causal_pima.benchmark_check write-reference --profile-seconds $$(( $$(date +%s) - start ))

SIDE_BY_SIDE = $(BIN)/python -m causal_pima.side_by_side
benchmark-tables: install
	$(SIDE_BY_SIDE) data/08_reporting/benchmark_peer/side_by_side.md data/08_reporting/benchmark data/08_reporting/benchmark_peer
	$(SIDE_BY_SIDE) data/08_reporting/benchmark/recovery_by_d.md data/08_reporting/benchmark \
		--per-seed n_nodes,cpdag_shd,node_accuracy,ari --configurations collider,glow,image4,five,six,seven,eight
	$(SIDE_BY_SIDE) data/08_reporting/benchmark_auto_d/chosen_d.md data/08_reporting/benchmark_auto_d \
		--per-seed n_nodes,cpdag_shd,node_accuracy

readme-tables: install
	$(BIN)/python -m causal_pima.readme_tables README.md

viz: install
	$(BIN)/kedro viz build

mlflow-ui: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --port 5000

clean:
	rm -rf build .viz .build-wheel dist data/0*/*/ mlflow.db mlartifacts
