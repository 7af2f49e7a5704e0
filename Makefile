# mrredis: `make run` starts a local system, `make test` runs every test.
GO ?= go
BIN := bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
CMDS := $(notdir $(wildcard cmd/*))
TEST_TIMEOUT ?= 14m

.PHONY: all build deps test test-short run lint bench clean

all: build

deps:
	@scripts/deps.sh
	@$(GO) mod download

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

# Everything: unit tests, real ZooKeeper/redis-server tests and end-to-end runs.
test: deps
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

# Unit tests only; process-level tests skip themselves.
test-short:
	$(GO) test -short ./...

run: deps build
	$(GO) run ./scripts/devrun --bin $(BIN)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Benchmarks print figures; they assert nothing. The programs under bench/
# run the real binaries on the local cluster.
bench: deps build
	$(GO) test -run '^$$' -bench . ./...
	$(GO) run ./bench/create --bin $(BIN)
	$(GO) run ./bench/failover --bin $(BIN) --mode kill
	$(GO) run ./bench/failover --bin $(BIN) --mode hang
	$(GO) run ./bench/failover --bin $(BIN) --mode switchover
	$(GO) run ./bench/proxy

clean:
	rm -rf $(BIN)
