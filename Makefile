# The two commands: `make demo` and `make test`. Both install what is missing first.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)

.PHONY: all deps build asan test unit-test e2e-test chaos bench demo fuzz clean

all: build

deps:
	@scripts/install-deps.sh

# The Release build users and packagers make (-O3), with warnings as errors:
# some warnings (GCC's -Wrestrict) appear only at -O3, so CI must build it.
build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DFERRY_WERROR=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Only what runs under the sanitizers: the unit tests (parser fuzzing included).
asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DFERRY_SANITIZE=ON -DFERRY_WERROR=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS) --target ferry_unit_tests

# Every test: unit and end-to-end on the release build, then the unit tests
# (parser fuzzing included) again under ASan+UBSan. The end-to-end tests include
# the chaos suite's short run (8 faults; tests/e2e/chaos_test.cpp).
# Unit tests run two at a time; end-to-end tests one at a time (each runs
# several processes and two PostgreSQL clusters).
test: build asan
	@cd $(BUILD) && ctest --output-on-failure -L unit -j 2 --timeout 900
	@cd $(BUILD) && ctest --output-on-failure -L e2e --timeout 900
	@cd $(ASAN_BUILD) && ctest --output-on-failure -L unit -j 2 --timeout 900

unit-test: build
	@cd $(BUILD) && ctest --output-on-failure -L unit

e2e-test: build
	@cd $(BUILD) && ctest --output-on-failure -L e2e

# The chaos suite's long run: CHAOS_FAULTS random faults (default 50) under load,
# then the target must equal the source. CHAOS_SEED=N replays a run's faults.
CHAOS_FAULTS ?= 50
chaos: build
	@CHAOS_FAULTS=$(CHAOS_FAULTS) CHAOS_SEED=$(CHAOS_SEED) $(BUILD)/tests/ferry_e2e_tests --gtest_filter='ChaosTest.*'

# Benchmarks: on demand, never part of `make test`; each prints its baseline beside it.
bench: build
	@for b in $(BUILD)/bench/*_bench; do echo "== $$b"; $$b || exit 1; done
	@for s in bench/*_bench.sh; do echo "== $$s"; $$s $(BUILD)/ferry || exit 1; done

demo: build
	@scripts/demo.sh $(BUILD)/ferry

fuzz: deps
	@scripts/fuzz.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
