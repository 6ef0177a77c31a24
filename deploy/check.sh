#!/usr/bin/env bash
# Lints and renders the Helm chart with default values and with every
# optional template on. Installs helm with `go install` if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

chart=deploy/helm/switchboard
export PATH="$PATH:$(go env GOPATH)/bin"
if ! command -v helm >/dev/null 2>&1; then
  echo "deploy: installing helm v3.22.0"
  go install helm.sh/helm/v3/cmd/helm@v3.22.0
fi
echo "deploy: $(helm version --short)"

helm lint --strict "$chart"
helm lint --strict "$chart" -f "$chart/ci/all-values.yaml"
# Render to /dev/null: a template error fails the run; the output is not needed.
helm template sb "$chart" >/dev/null
helm template sb "$chart" -f "$chart/ci/all-values.yaml" >/dev/null
echo "deploy: helm lint and template passed"
