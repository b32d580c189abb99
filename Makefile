# communityhub-operator: `make demo` and `make test` do all set-up on a fresh machine
# (Python venv, control-plane binaries built from the Go module proxy and cached).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:/usr/local/go/bin:$(PATH)

.PHONY: help venv binaries promtool checkov hubenv crds lint test test-unit test-integration cluster-up cluster-down run demo demo-down \
	demo-dedicated demo-dedicated-down clean image image-tools fleet-import browser

help:
	@echo "make demo          local control plane, CRD, operator and an example hub, watched until Ready"
	@echo "make demo-dedicated       after make demo: a dedicated (cloud: local) hub through Terraform, until Ready"
	@echo "make demo-dedicated-down  delete it: release uninstalled, its cluster destroyed"
	@echo "make demo-down     stop what make demo started"
	@echo "make test          all tests (unit and integration on a real local control plane)"
	@echo "make cluster-up    start a local control plane; last line: export KUBECONFIG=..."
	@echo "make cluster-down  stop it"
	@echo "make run           the operator in the foreground against the current KUBECONFIG"
	@echo "make crds          regenerate crds/ from the pydantic models"
	@echo "make binaries      build (or find) etcd, kube-*, kwok, helm, kubectl"
	@echo "make image         the operator image, with buildah (IMAGE=..., BASES=official|standin|auto)"
	@echo "make fleet-import  regenerate examples/fleet/imported with hubctl import from ../shared/fleet"

$(VENV)/.installed: pyproject.toml hack/requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c hack/requirements.lock -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

binaries: venv
	$(PY) -m localcluster build

promtool: venv
	$(PY) -m localcluster build promtool

# checkov (tests/unit/test_cluster_modules.py) in a venv of its own, cached outside the repo: its pins
# (packaging 23) do not fit the test venv's pytest.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := $(HOME)/.cache/communityhub-operator/checkov-$(CHECKOV_VERSION)
$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)

checkov: $(CHECKOV_VENV)/bin/checkov

# The JupyterHub chart's hub software (JupyterHub, KubeSpawner, the authenticators), as its image holds it:
# a venv of Python 3.12 (the image's) from the image's pinned requirements, beside the chart in ../shared.
# hubctl import's report and tests/unit/test_what_users_get.py load the chart's hub configuration in it.
HUB_REQUIREMENTS := $(abspath ../shared/charts/images/jupyterhub-4.4.0-hub-requirements.txt)
HUB_VENV := $(HOME)/.cache/communityhub-operator/hubenv-4.4.0
# The first Python 3.12 that runs (a pyenv shim may exist without a version selected).
HUB_BASE_PYTHON ?= $(shell for p in $$(ls $(HOME)/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null) \
  $$(command -v python3.12); do "$$p" -c pass 2>/dev/null && { echo "$$p"; break; }; done)
$(HUB_VENV)/.installed: $(HUB_REQUIREMENTS)
	@test -n "$(HUB_BASE_PYTHON)" || { echo "hubenv needs Python 3.12 (the hub image's): set HUB_BASE_PYTHON"; exit 1; }
	$(HUB_BASE_PYTHON) -m venv --clear $(HUB_VENV)
	$(HUB_VENV)/bin/pip install --quiet -r $(HUB_REQUIREMENTS)
	touch $@

# The other side of a move: the fleet's own hub image adds packages its basehub chart's extraConfig imports
# (jupyterhub-usage-quotas brings JupyterHub 6 with it), so the fleet's hubs are loaded in a second venv,
# the chart's requirements plus those. The operator's values are loaded in the first, the chart's image.
FLEET_HUB_EXTRAS := jupyterhub-fancy-profiles==0.7.0 jupyterhub-usage-quotas==0.2.1
FLEET_HUB_VENV := $(HOME)/.cache/communityhub-operator/hubenv-fleet
$(FLEET_HUB_VENV)/.installed: $(HUB_REQUIREMENTS)
	@test -n "$(HUB_BASE_PYTHON)" || { echo "hubenv needs Python 3.12: set HUB_BASE_PYTHON"; exit 1; }
	$(HUB_BASE_PYTHON) -m venv --clear $(FLEET_HUB_VENV)
	$(FLEET_HUB_VENV)/bin/pip install --quiet -r $(HUB_REQUIREMENTS)
	$(FLEET_HUB_VENV)/bin/pip install --quiet $(FLEET_HUB_EXTRAS)
	touch $@

# What the chart's user image (k8s-singleuser-sample) and proxy image hold, for process pods (operator/localcluster/
# processpods.py): one user environment serves every user image; configurable-http-proxy from npm.
USER_REQUIREMENTS := $(abspath ../shared/charts/images/jupyterhub-4.4.0-singleuser-sample-requirements.txt)
USER_VENV := $(HOME)/.cache/communityhub-operator/userenv-4.4.0
$(USER_VENV)/.installed: $(USER_REQUIREMENTS)
	@test -n "$(HUB_BASE_PYTHON)" || { echo "hubenv needs Python 3.12: set HUB_BASE_PYTHON"; exit 1; }
	$(HUB_BASE_PYTHON) -m venv --clear $(USER_VENV)
	$(USER_VENV)/bin/pip install --quiet -r $(USER_REQUIREMENTS)
	touch $@

CHP_DIR := $(HOME)/.cache/communityhub-operator/chp-5.2.0
$(CHP_DIR)/.installed:
	mkdir -p $(CHP_DIR)
	npm install --silent --no-audit --no-fund --prefix $(CHP_DIR) configurable-http-proxy@5.2.0
	touch $@

hubenv: $(HUB_VENV)/.installed $(FLEET_HUB_VENV)/.installed $(USER_VENV)/.installed $(CHP_DIR)/.installed

crds: venv
	for f in $$($(PY) -c "from communityhub.api import crd; print(*crd.FILES)"); do \
	  $(PY) -m communityhub.api.crd $$f > crds/$$f && cp crds/$$f helm/communityhub-operator/crds/$$f || exit 1; done

lint: venv
	$(VENV)/bin/ruff check operator tests

# pytest exits 5 when it collected no test: that must fail, not pass silently.
define run_pytest
	$(VENV)/bin/pytest $(1); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc
endef

test: venv binaries promtool checkov hubenv lint image-tools browser
	$(call run_pytest,tests)

test-unit: venv binaries promtool checkov hubenv
	$(call run_pytest,tests/unit)

test-integration: venv binaries
	$(call run_pytest,tests/integration)

cluster-up: venv
	@$(PY) -m localcluster up --name $(or $(NAME),dev)

cluster-down: venv
	@$(PY) -m localcluster down --name $(or $(NAME),dev)

run: venv
	$(PY) -m communityhub

demo: venv binaries hubenv
	@$(PY) -m localcluster.demo up

demo-down: venv
	@$(PY) -m localcluster.demo down

demo-dedicated: venv
	@$(PY) -m localcluster.demo dedicated

demo-dedicated-down: venv
	@$(PY) -m localcluster.demo dedicated-down

# buildah builds the image without a Docker engine; debootstrap makes stand-in base images where the official
# ones cannot be pulled. Installed from Debian's packages when missing (root only; else the image test is
# skipped and says why).
image-tools:
	@if ! command -v buildah >/dev/null || ! command -v debootstrap >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing buildah and debootstrap (Debian's packages)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q buildah debootstrap >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q buildah debootstrap >/dev/null; }; \
	  else echo "buildah or debootstrap missing and not root: install them to build the image"; fi; \
	fi

# Debian's Chromium for the browser test of a served hub (tests/integration/test_serving.py), driven through its
# DevTools protocol: no browser download by a test tool (none reaches the network here).
browser:
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium (Debian's package)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; \
	  else echo "chromium missing and not root: the browser test will say so and skip"; fi; \
	fi

image: image-tools
	@hack/image/build.sh

FLEET := ../shared/fleet/2i2c-infrastructure
# The manifests hubctl import writes for the real fleet (the translation only: the equivalence report needs
# the hub software, `make hubenv`, and is hubctl import's without --no-compare). Exit 1 means "some hub is not
# typed", which is the fleet's state today, not a failure of the target.
fleet-import: venv
	rm -rf examples/fleet/imported
	$(VENV)/bin/hubctl import deployer $(FLEET)/config/clusters/* --charts $(FLEET)/helm-charts --no-compare \
	  --output-dir examples/fleet/imported; test $$? -le 1

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
