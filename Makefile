# Two commands: `make run` starts streamgate with its defaults; `make test` runs every test.
PRESET ?= release
BUILD_DIR := build/$(PRESET)
JOBS ?= $(shell nproc)
ARGS ?=

.PHONY: all deps configure build web package run test test-cpp test-web test-asan bench clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@test -f $(BUILD_DIR)/build.ninja || cmake --preset $(PRESET) >/dev/null

build: configure
	@cmake --build --preset $(PRESET) -j $(JOBS)

# The web app is rebuilt only when its sources changed (scripts/web.sh keeps a stamp).
web: deps
	@if [ -f web/package.json ]; then bash scripts/web.sh build; fi

# The Debian package, streamgate_<version>_<arch>.deb in $(BUILD_DIR): binaries, web app, config, unit.
package: build web
	@cmake --build --preset $(PRESET) --target package
	@ls -l $(BUILD_DIR)/streamgate_*.deb

run: build web
	$(BUILD_DIR)/streamgate $(ARGS)

test: build web
	@$(MAKE) --no-print-directory test-cpp
	@bash scripts/test-fakes.sh
	@if [ -f web/package.json ]; then bash scripts/web.sh test; fi

test-cpp:
	@ctest --preset $(PRESET)

# The C++ suite again under AddressSanitizer and UBSan (its own build tree); fuzzing, benchmark
# smoke runs and the package's tests (which check the release binaries) are left to `make test`.
test-asan: deps
	@test -f build/asan-ubsan/build.ninja || cmake --preset asan-ubsan >/dev/null
	@cmake --build --preset asan-ubsan -j $(JOBS)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --preset asan-ubsan -LE "fuzz|bench|deploy"

bench: build
	@bash bench/run.sh

clean:
	rm -rf build
