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

bench: deps build
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...
	@for b in bench/*/; do [ -f "$$b/run.sh" ] && bash "$$b/run.sh" || true; done

clean:
	rm -rf $(BIN)
