#!/usr/bin/env bash
# `make image`: the operator image, built with buildah from the Dockerfile and hack/versions.env.
#   IMAGE=<name:tag>   what to call it (default localhost/communityhub-operator:<project version>)
#   BASES=official     the official python and golang images (a registry must be reachable)
#   BASES=standin      stand-ins built here from Debian's packages (hack/image/standin-bases.sh)
#   BASES=auto         (default) official when docker.io answers, else the stand-ins
#   ISOLATION=oci     buildah's OCI runtime for RUN steps (default chroot: works where crun meets cgroups it
#                     cannot use, "cgroups in hybrid mode not supported")
# Prints the image's name last.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../versions.env
source hack/versions.env
version="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)"
image="${IMAGE:-localhost/communityhub-operator:${version}}"
bases="${BASES:-auto}"

args=()
for key in DEBIAN_SUITE PYTHON_VERSION GO_VERSION HELM_VERSION OPENTOFU_VERSION; do
  args+=(--build-arg "${key}=${!key}")
done
if [ "$bases" = auto ]; then
  code="$(curl -s -m 5 -o /dev/null -w '%{http_code}' https://registry-1.docker.io/v2/ || true)"
  if [ "$code" = 401 ] || [ "$code" = 200 ]; then bases=official; else bases=standin; fi
  echo "base images: ${bases} (docker.io answered ${code:-nothing})" >&2
fi
if [ "$bases" = standin ]; then
  for pair in $(hack/image/standin-bases.sh); do args+=(--build-arg "$pair"); done
fi
# A TLS-intercepting proxy's CA (this machine's bundle) for the build's downloads: mounted for the RUN steps
# only, so it never lands in a layer. HOST_CA= (empty) leaves it out.
host_ca="${HOST_CA-/etc/ssl/certs/ca-certificates.crt}"
if [ -n "$host_ca" ] && [ -f "$host_ca" ]; then
  args+=(--volume "${host_ca}:/run/host-ca.crt:ro" --build-arg SSL_CERT_FILE=/run/host-ca.crt
         --build-arg PIP_CERT=/run/host-ca.crt)
fi
# This machine's Go module and build caches, mounted into the build: helm and tofu are built from the
# module proxy the first time, from the caches after that.
if command -v go >/dev/null; then
  modcache="$(go env GOMODCACHE)" buildcache="$(go env GOCACHE)"
  mkdir -p "$modcache" "$buildcache"
  args+=(--volume "${modcache}:/root/go/pkg/mod" --volume "${buildcache}:/root/.cache/go-build")
fi

buildah bud --isolation "${ISOLATION:-chroot}" --network host --layers --quiet -f Dockerfile -t "$image" "${args[@]}" . >&2
echo "built ${image} ($(buildah images --format "{{.Size}}" "$image" 2>/dev/null || true))" >&2
echo "$image"
