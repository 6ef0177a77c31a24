# The README's test command is `make test`: vet, every Go test with the race
# detector (fuzz seeds included), then the end-to-end suites that drive the
# built binary with the official npm clients.
GO ?= go

.PHONY: test test-go test-cross test-e2e test-deploy build bench bench-sockets

test: test-go test-e2e test-deploy

test-go: test-cross
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

# The binary is built and tested on Linux; self-hosters and developers also
# run it on macOS and Windows, so every package must at least compile there.
test-cross:
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./...
	GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./...

test-e2e:
	cd e2e && npm ci --silent --no-audit --no-fund && node --test --test-concurrency=2 --test-timeout=120000 *.test.js

# Deployment files: the Helm chart (deploy/check.sh: helm lint and
# template; it installs helm with go install when missing) and the
# Prometheus alert rules (promtool, Debian's prometheus package; without it
# this only warns, except under CI=true).
test-deploy:
	deploy/check.sh
	@if command -v promtool >/dev/null 2>&1; then \
		promtool check rules deploy/observability/prometheus/alerts.yml; \
	elif [ "$${CI:-}" = true ]; then echo "promtool is required (apt-get install prometheus)" >&2; exit 1; \
	else echo "warning: promtool not installed; alert rules not checked" >&2; fi

build:
	$(GO) build -o bin/switchboard ./cmd/switchboard

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 6 ./edge ./restapi ./protocol

# Real-socket comparison against the bare gws baseline (and ipe when IPE_BIN is
# set); rewrites the tables in docs/performance.md. BENCH_QUICK=1 for 5 s runs,
# BENCH_SCENARIOS to pick scenarios. Needs a quiet 2-CPU machine; not in CI.
bench-sockets:
	scripts/bench.sh
