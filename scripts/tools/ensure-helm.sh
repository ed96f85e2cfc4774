#!/usr/bin/env bash
# Prints the path of a helm binary: `helm` on PATH, else $(go env GOPATH)/bin/helm, installing it
# there through the Go module proxy when neither exists (no Docker or package repository needed).
set -euo pipefail

HELM_MODULE="helm.sh/helm/v3/cmd/helm@v3.16.4"

if command -v helm >/dev/null 2>&1; then
  command -v helm
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "ensure-helm: no helm on PATH and no Go toolchain to build one; install helm (https://helm.sh/docs/intro/install/) or Go, then retry" >&2
  exit 1
fi

gobin="$(go env GOBIN)"
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
if [ ! -x "$gobin/helm" ]; then
  echo "ensure-helm: installing $HELM_MODULE into $gobin (a few minutes the first time)" >&2
  go install "$HELM_MODULE" >&2
fi
echo "$gobin/helm"
