#!/usr/bin/env bash
# Stand-in base images for machines that cannot pull the official python and golang images: a Debian
# root made by debootstrap with Debian's python3 (the same minor version as the official image's), and the
# same root plus this machine's Go toolchain (its version must be the pinned GO_VERSION). Kept in buildah's
# storage: made once per machine. Prints the build arguments that use them.
#   hack/image/standin-bases.sh            -> PYTHON_BASE=... GO_BASE=...
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../versions.env
source hack/versions.env
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
python_image="localhost/communityhub-standin/python:${PYTHON_VERSION}-${DEBIAN_SUITE}"
go_image="localhost/communityhub-standin/golang:${GO_VERSION}-${DEBIAN_SUITE}"

have() { buildah inspect --type image "$1" >/dev/null 2>&1; }

if ! have "$python_image"; then
  root="$(mktemp -d /var/tmp/communityhub-rootfs.XXXXXX)"
  trap 'rm -rf "$root"' EXIT
  echo "stand-in python base: debootstrap ${DEBIAN_SUITE} from ${mirror} (once per machine)" >&2
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$DEBIAN_SUITE" "$root" "$mirror" >&2
  found="$(chroot "$root" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  if [ "$found" != "$PYTHON_VERSION" ]; then
    echo "Debian ${DEBIAN_SUITE} has python ${found}, not the pinned ${PYTHON_VERSION}" >&2
    exit 1
  fi
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
  ctr="$(buildah from scratch)"
  mnt="$(buildah mount "$ctr")"
  cp -a "$root"/. "$mnt"/
  buildah umount "$ctr" >/dev/null
  buildah config --env PATH=/usr/local/bin:/usr/bin:/bin --env LANG=C.UTF-8 --cmd /bin/bash "$ctr"
  buildah commit --quiet --rm "$ctr" "$python_image" >/dev/null
fi

if ! have "$go_image"; then
  go="$(command -v go || true)"
  if [ -z "$go" ] || [[ "$("$go" env GOVERSION)" != "go${GO_VERSION}"* ]]; then
    echo "the stand-in golang base needs Go ${GO_VERSION} on this machine (found: ${go:-none})" >&2
    exit 1
  fi
  echo "stand-in golang base: ${python_image} with $("$go" env GOVERSION) from $("$go" env GOROOT)" >&2
  ctr="$(buildah from "$python_image")"
  mnt="$(buildah mount "$ctr")"
  mkdir -p "$mnt/usr/local"
  cp -a "$("$go" env GOROOT)" "$mnt/usr/local/go"
  buildah umount "$ctr" >/dev/null
  buildah config --env PATH=/usr/local/go/bin:/usr/local/bin:/usr/bin:/bin "$ctr"
  buildah commit --quiet --rm "$ctr" "$go_image" >/dev/null
fi

echo "PYTHON_BASE=${python_image} GO_BASE=${go_image}"
