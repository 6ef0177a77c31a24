#!/usr/bin/env bash
# Lints and renders the Helm chart with default values and with every
# optional template on, and checks the topology it renders: an edge
# Deployment (--roles=edge,api) and a control Deployment (--roles=control),
# each with probes, a preStop drain and a grace period longer than it.
# Installs helm with `go install` if it is missing.
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

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
helm template sb "$chart" >"$out/default.yaml"
helm template sb "$chart" -f "$chart/ci/all-values.yaml" >"$out/all.yaml"

fail() { echo "deploy: $*" >&2; exit 1; }

# doc FILE KIND NAME prints the one manifest of that kind and name.
doc() {
  awk -v kind="kind: $2" -v name="  name: $3" '
    /^---/ { if (hit) printf "%s", buf; buf = ""; hit = 0; k = 0; n = 0; next }
    { buf = buf $0 "\n" }
    $0 == kind { k = 1 }
    $0 == name && k && !n { n = 1; hit = 1 }
    END { if (hit) printf "%s", buf }' "$1"
}

count() { grep -c "^kind: $2\$" "$1" || true; }

# check_deployment FILE COMPONENT ROLES
check_deployment() {
  local file=$1 component=$2 roles=$3 d grace drain sleep
  d=$(doc "$file" Deployment "sb-switchboard-$component")
  [[ -n $d ]] || fail "$file: no Deployment sb-switchboard-$component"
  grep -qx -- "            - --roles=$roles" <<<"$d" || fail "$component: not started with --roles=$roles"
  grep -q "httpGet: {path: /readyz" <<<"$d" || fail "$component: no readiness probe on /readyz"
  grep -q "httpGet: {path: /healthz" <<<"$d" || fail "$component: no liveness probe on /healthz"
  grep -q "preStop:" <<<"$d" || fail "$component: no preStop"
  grep -q "app.kubernetes.io/component: $component" <<<"$d" || fail "$component: pods not labelled with their component"
  grace=$(sed -n 's/^ *terminationGracePeriodSeconds: \([0-9]*\)$/\1/p' <<<"$d")
  drain=$(sed -n 's/^ *- --drain-timeout=\([0-9]*\)s$/\1/p' <<<"$d")
  sleep=$(awk '/sleep:/ { getline; print $2 }' <<<"$d")
  [[ -n $grace && -n $drain && -n $sleep ]] || fail "$component: grace ($grace), drain ($drain) or preStop sleep ($sleep) not found"
  ((grace > drain + sleep)) || fail "$component: terminationGracePeriodSeconds $grace is not above preStop $sleep s + drain $drain s"
  [[ -n $(doc "$file" Service "sb-switchboard-$component") ]] || fail "$file: no Service sb-switchboard-$component"
  [[ -n $(doc "$file" PodDisruptionBudget "sb-switchboard-$component") ]] || fail "$file: no PodDisruptionBudget for $component"
}

for f in "$out/default.yaml" "$out/all.yaml"; do
  [[ $(count "$f" Deployment) == 2 ]] || fail "$f: want 2 Deployments, got $(count "$f" Deployment)"
  check_deployment "$f" edge edge,api
  check_deployment "$f" control control
done

# Every optional part, routed to the right component.
hpa=$(doc "$out/all.yaml" HorizontalPodAutoscaler sb-switchboard-edge)
grep -q "name: sb-switchboard-edge" <<<"$hpa" && grep -q "name: switchboard_edge_connections" <<<"$hpa" ||
  fail "HPA does not scale the edge Deployment on connections"
ing=$(doc "$out/all.yaml" Ingress sb-switchboard)
for route in /app:edge /apps:edge /pusher:edge /api/v1:control /dashboard:control /billing:control; do
  grep -A4 -x "          - path: ${route%%:*}" <<<"$ing" | grep -q "name: sb-switchboard-${route#*:}" ||
    fail "Ingress does not route ${route%%:*} to ${route#*:}"
done
grep -q "proxy-read-timeout" <<<"$ing" || fail "Ingress has no WebSocket read timeout"
sm=$(doc "$out/all.yaml" ServiceMonitor sb-switchboard)
grep -q "values: \[edge, control\]" <<<"$sm" || fail "ServiceMonitor does not select both components"

echo "deploy: helm lint and template passed; edge (--roles=edge,api) and control (--roles=control) checked"
