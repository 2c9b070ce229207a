# Two commands: `make run` starts streamgate with its defaults; `make test` runs every test.
PRESET ?= release
BUILD_DIR := build/$(PRESET)
JOBS ?= $(shell nproc)
ARGS ?=

.PHONY: all deps configure build web run test test-cpp test-web bench clean

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

run: build web
	$(BUILD_DIR)/streamgate $(ARGS)

test: build web
	@$(MAKE) --no-print-directory test-cpp
	@if [ -f web/package.json ]; then bash scripts/web.sh test; fi

test-cpp:
	@ctest --preset $(PRESET)

bench: build
	@bash bench/run.sh

clean:
	rm -rf build
