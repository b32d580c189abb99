# The operator image: Python + the operator, helm built from the same pinned module as in development.
# Build: docker build -t communityhub-operator .
FROM golang:1.26-bookworm AS tools
ENV CGO_ENABLED=0 GOFLAGS=-mod=readonly
WORKDIR /src
COPY hack/tools/helm/ ./helm/
RUN cd helm && go build -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v3.22.0" \
      -o /out/helm helm.sh/helm/v3/cmd/helm
COPY hack/tools/opentofu/ ./opentofu/
RUN cd opentofu && go build -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" -o /out/tofu github.com/opentofu/opentofu/cmd/tofu

FROM python:3.11-slim-bookworm
RUN useradd --uid 10001 --home-dir /tmp --no-create-home operator
COPY --from=tools /out/helm /out/tofu /usr/local/bin/
COPY terraform ./terraform
WORKDIR /app
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip install --no-cache-dir . && rm -rf /root/.cache
USER 10001
ENV CHUB_TERRAFORM=tofu CHUB_TERRAFORM_MODULES=/app/terraform/modules \
    HOME=/tmp HELM_CACHE_HOME=/tmp/helm-cache HELM_CONFIG_HOME=/tmp/helm-config PYTHONUNBUFFERED=1
EXPOSE 8080 8081
ENTRYPOINT ["communityhub-operator"]
