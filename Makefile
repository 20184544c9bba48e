# jepa_ros: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# DDS stays on loopback, always; each run gets its own domain unless one is given.
ROS_DOMAIN_ID ?= $(shell echo $$(( ($$$$ % 100) + 100 )))
ROS_ENV := ROS_LOCALHOST_ONLY=1 ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=$(ROS_DOMAIN_ID)
# pip's file:// extra indexes on this machine print one warning per package: hide only those.
# (sed, not grep -v: it exits 0 on empty output, so pipefail still reports pip's own failure)
PIPQ := 2>&1 | sed -E '/is ignored: it is neither a file nor a directory/d'
# requirements.txt is the loose input; requirements.lock (exact versions, `make lock`) is
# what setup installs.
LOCK := requirements.lock
LOCK_VENV ?= build/lock-venv
# The upstream ROS 2 launch/ros2cli/colcon tools for a pip-wheel venv (its README). When the
# folder exists, setup installs them into the venv (idempotent, 1 s when up to date), so
# `make test` runs the launch tests too; .ci/run requires it.
TOOLCHAIN ?= ../shared/ros2-toolchain

.PHONY: setup interfaces toolchain lock lint test demo bench bench-gpu train collect clean help

help:
	@echo "make demo   - set up, run the ROS 2 graph in simulation, reach goal images, write a report"
	@echo "make test   - set up, lint (ruff), run the test suite (DDS on loopback only)"
	@echo "make bench  - run the benchmarks into docs/BENCHMARKS.md"
	@echo "make bench-gpu - on a CUDA machine (torch CUDA build): planning + training figures (<= 8 min)"
	@echo "make train  - collect data and train the shipped two_rooms checkpoint under models/"
	@echo "make lock   - rebuild requirements.lock from requirements.txt (throwaway venv + freeze)"

setup: $(VENV)/.setup-done toolchain

# Re-run only when the lock or the package description change (idempotent).
$(VENV)/.setup-done: $(LOCK) setup.py package.xml jepa_ros_interfaces/package.xml \
                     $(wildcard jepa_ros_interfaces/msg/*.msg jepa_ros_interfaces/srv/*.srv jepa_ros_interfaces/action/*.action) \
                     jepa_ros_interfaces/CMakeLists.txt scripts/build_interfaces.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	set -o pipefail; $(PY) -m pip install -q -r $(LOCK) $(PIPQ)
	$(PY) -c "import torch, rclpy, pybullet, mcap, rosbags" # fail here, not in a test
	set -o pipefail; $(PY) -m pip install -q --no-build-isolation --no-deps -e . $(PIPQ)
	$(MAKE) interfaces
	touch $@

interfaces:
	VENV=$(VENV) bash scripts/build_interfaces.sh

toolchain: $(VENV)/.setup-done
	@if [ -d "$(TOOLCHAIN)" ]; then bash "$(TOOLCHAIN)/install.sh" "$(VENV)"; \
	else echo "make: no ROS 2 toolchain at $(TOOLCHAIN): the launch tests will skip"; fi

# A throwaway venv from the loose requirements.txt, checked, then frozen into the lock.
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	set -o pipefail; $(LOCK_VENV)/bin/python -m pip install -q -r requirements.txt $(PIPQ)
	$(LOCK_VENV)/bin/python -m pip check
	$(LOCK_VENV)/bin/python scripts/write_lock.py $(LOCK)
	rm -rf $(LOCK_VENV)

# The linter first (ruff.toml): seconds, and a failure names the file and line.
lint: setup
	$(PY) -m ruff check .

test: setup lint
	$(ROS_ENV) $(PY) -m pytest -q -ra $(PYTEST_ARGS)

demo: setup
	$(ROS_ENV) $(PY) -m jepa_ros.cli demo $(if $(TRAIN),--train,) $(DEMO_ARGS)

bench: setup
	$(ROS_ENV) $(PY) -m jepa_ros.cli bench $(BENCH_ARGS)

# One prepared, short GPU run: plan time and plans/s (eager, CUDA graphs, torch.compile,
# TensorRT; fp32/fp16) and training steps/s vs CPU -> runs/bench_gpu/bench_gpu.{json,md}
# and section gpu of docs/BENCHMARKS.md. BENCH_GPU_ARGS='--device cpu ...' for a smoke run.
bench-gpu: setup
	$(PY) -m jepa_ros.tools.bench_gpu --out runs/bench_gpu --section $(BENCH_GPU_ARGS)

train: setup
	$(ROS_ENV) $(PY) -m jepa_ros.tools.make_train $(TRAIN_ARGS)

clean:
	rm -rf $(VENV) build install log .pytest_cache
