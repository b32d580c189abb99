# The operator image. Build it with `make image` (buildah; docker or podman take the same file):
#   docker build -t communityhub-operator .
# Versions: hack/versions.env and hack/requirements.lock. `make image` passes the first as build arguments;
# the defaults below must agree with it (tests/unit/test_versions.py checks). The base images are build
# arguments too: where the registry cannot be reached, `make image` builds stand-ins from Debian's
# packages (hack/image/standin-bases.sh) and passes those.
ARG PYTHON_VERSION=3.11
ARG GO_VERSION=1.26
ARG DEBIAN_SUITE=bookworm
ARG PYTHON_BASE=docker.io/library/python:${PYTHON_VERSION}-slim-${DEBIAN_SUITE}
ARG GO_BASE=docker.io/library/golang:${GO_VERSION}-${DEBIAN_SUITE}

# helm and OpenTofu, built from the same wrapper modules as in development (hack/tools).
FROM ${GO_BASE} AS tools
ARG HELM_VERSION=v3.22.0
ARG OPENTOFU_VERSION=v1.10.10
# Where a proxy re-signs TLS, `make image` passes its CA bundle (mounted for the build only, never in a layer).
ARG SSL_CERT_FILE
ENV CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" GOMODCACHE=/root/go/pkg/mod GOCACHE=/root/.cache/go-build \
    PATH=/usr/local/go/bin:/usr/local/bin:/usr/bin:/bin
WORKDIR /src
COPY hack/tools/helm/ ./helm/
RUN cd helm && go build -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}" \
      -o /out/helm helm.sh/helm/v3/cmd/helm
COPY hack/tools/opentofu/ ./opentofu/
RUN cd opentofu && go build -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" \
      -o /out/tofu github.com/opentofu/opentofu/cmd/tofu

# The operator and its pinned Python packages, in a virtual environment copied whole into the final stage.
FROM ${PYTHON_BASE} AS python
ARG PIP_CERT
WORKDIR /app
COPY hack/requirements.lock ./
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN python3 -m venv /app/venv \
    && /app/venv/bin/pip install --no-cache-dir --quiet -c requirements.lock '.[aws]' \
    && /app/venv/bin/pip uninstall --yes --quiet pip \
    && find /app/venv -name __pycache__ -prune -exec rm -rf {} +

FROM ${PYTHON_BASE}
# The operator's user, without useradd (not in every base): uid and gid 10001, home /tmp, no login shell.
RUN echo 'operator:x:10001:10001:communityhub-operator:/tmp:/usr/sbin/nologin' >> /etc/passwd \
    && echo 'operator:x:10001:' >> /etc/group
COPY --from=tools /out/helm /out/tofu /usr/local/bin/
COPY --from=python /app/venv /app/venv
COPY terraform/modules /app/terraform/modules
COPY hack/versions.env /app/versions.env
USER 10001
WORKDIR /tmp
ENV PATH=/app/venv/bin:/usr/local/bin:/usr/bin:/bin \
    CHUB_TERRAFORM=tofu CHUB_TERRAFORM_MODULES=/app/terraform/modules \
    HOME=/tmp HELM_CACHE_HOME=/tmp/helm-cache HELM_CONFIG_HOME=/tmp/helm-config HELM_DATA_HOME=/tmp/helm-data \
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
# glibc's malloc: two arenas, not one per thread (the leader renewal, metrics and Kopf's threads), which holds
# the operator's resident memory down at fleet scale (docs/benchmarks.md).
ENV MALLOC_ARENA_MAX=2
EXPOSE 8080 8081
ENTRYPOINT ["communityhub-operator"]
