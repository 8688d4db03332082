# Remora's front door. `make test` is what CI runs first; `make demo` is the newcomer's first look.
SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
PYTEST := /usr/bin/python3 -m pytest -p no:cacheprovider

.PHONY: all deps build test unit integration e2e asan test-asan fuzz demo bench tidy format clean

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD)

unit: build
	cd $(BUILD) && ctest --output-on-failure --timeout 120

integration: build
	REMORA_BUILD=$(abspath $(BUILD)) $(PYTEST) test/integration -q

# Network-namespace tests (root and `ip netns`; they skip with a reason otherwise).
e2e: build
	REMORA_BUILD=$(abspath $(BUILD)) $(PYTEST) test/e2e -q -rs

# Installs what is missing, builds, and runs every test.
test: build
	$(MAKE) --no-print-directory unit integration e2e

# The unit and integration suites again under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DREMORA_SANITIZE=ON
	cmake --build $(ASAN_BUILD)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure --timeout 300
	REMORA_BUILD=$(abspath $(ASAN_BUILD)) REMORA_SANITIZED=1 $(PYTEST) test/integration -q

# Each libFuzzer target for FUZZ_SECONDS from its committed seed corpus (clang-16).
fuzz: deps
	CXX=clang++-16 cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREMORA_FUZZ=ON
	cmake --build $(FUZZ_BUILD)
	bash scripts/run_fuzz.sh $(FUZZ_BUILD)/bin $(FUZZ_SECONDS)

# Bookinfo in a local mesh (root): Istio's routing rules applied in turn, what each changed; the
# mesh stays up to explore (`$(BUILD)/bin/remoractl mesh down` removes it).
demo: build
	$(BUILD)/bin/remoractl mesh demo

# L4 bulk throughput, then HTTP/1.1 requests/s, CPU per request and fixed-rate p99, then HTTP/2 and
# gRPC requests/s and CPU per request, then an HTTP/2 download beside a stalled stream
# (docs/benchmarks.md).
bench: build
	bash bench/run.sh $(BUILD)/bin/remora
	bash bench/http.sh $(BUILD)/bin/remora
	bash bench/h2.sh $(BUILD)/bin/remora
	/usr/bin/python3 bench/h2_stalled_stream.py $(BUILD)/bin/remora

tidy: build
	clang-tidy-16 -p $(BUILD) --quiet $$(git ls-files 'src/*.cc' | grep -v '^src/main.cc')

format:
	clang-format-16 -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
