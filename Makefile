# SPDX-License-Identifier: MIT
#
# bulkhead: one non-recursive Makefile for every program, library and test.
#
#   make                 build everything into $(O) (default build/)
#   make check           unit tests, fuzz-corpus replay, config-error and
#                        integration tests; then all of them again under
#                        ASan+UBSan (SAN=address,undefined, in $(O)/san)
#   make demo            as root: bring configs/demo up (bulkhead up), a short
#                        narrated tour of what its walls do, then bulkhead down
#   make fuzz            build the libFuzzer targets with clang ($(O)/fuzz)
#   make fuzz-run        run each libFuzzer target for FUZZ_TIME seconds
#   make bench           run every benchmark (bench-<name> runs one)
#   make install         DESTDIR, PREFIX honoured; daemons in libexec/bulkhead
#   make images          Xen domain images into $(O)/images: vmlinuz, netdom,
#                        stordom, vtpm and guest .cpio, SHA256SUMS (Debian
#                        packages cached in $(O)/nested, shared with check-xen);
#                        make install-images puts them in PREFIX/lib/bulkhead
#   make check-xen       images built twice give the same bytes, the images
#                        booted under real Xen in QEMU (check-images,
#                        check-images-boot); tests/nested/README.md
#   make check-xen-repeat  check-xen RUNS times (default 5): K of N passed
#
# Knobs: O=dir  V=1 (show commands)  WERROR=1  SAN=address,undefined
#        CC=... (gcc by default; clang is used for `make fuzz` only)

O ?= build
V ?= 0
WERROR ?= 0
SAN ?=
FUZZ ?= 0
PREFIX ?= /usr/local
DESTDIR ?=
FUZZ_TIME ?= 60

# `make` alone builds everything, whatever rule happens to come first below.
.DEFAULT_GOAL := all

ifeq ($(FUZZ),1)
BUILD := $(O)/fuzz
CC := clang
else ifneq ($(SAN),)
BUILD := $(O)/san
else
BUILD := $(O)
endif

ifeq ($(V),1)
Q :=
quiet =
else
Q := @
quiet = printf '  %-7s %s\n' $(1) $(2);
endif

# ---------------------------------------------------------------------------
# Dependencies: only through pkg-config. A missing module makes the Makefile
# install the Debian packages (as root) or print the one command to run.

PC_COMMON := libseccomp
PC_DOM0 := xenlight xlutil xenstore xentoollog libcrypto
PC_CHAN := xenvchan xenstore
PC_NETDOM := libnftnl libmnl
PC_STORDOM := libgcrypt libcryptsetup
PC_VTPM := libtpms libcrypto
PC_TEST := cunit
PC_ALL := $(sort $(PC_COMMON) $(PC_DOM0) $(PC_CHAN) $(PC_NETDOM) $(PC_STORDOM) $(PC_VTPM) \
	  $(PC_TEST))

NODEPS_GOALS := clean help deps
ifneq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
ifneq ($(shell pkg-config --exists $(PC_ALL) && echo ok),ok)
ifeq ($(shell id -u),0)
$(info bulkhead: missing build dependencies, running scripts/install-deps.sh)
ifneq ($(shell scripts/install-deps.sh >&2 && echo ok),ok)
$(error scripts/install-deps.sh failed)
endif
else
$(error missing build dependencies; as root run: $(shell scripts/install-deps.sh --print))
endif
endif
endif

pc_cflags = $(shell pkg-config --cflags $(1))
pc_libs = $(shell pkg-config --libs $(1))

# ---------------------------------------------------------------------------
# Flags

CFLAGS_WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
	       -Wno-missing-field-initializers
ifeq ($(WERROR),1)
CFLAGS_WARN += -Werror
endif

# -ffile-prefix-map: the checkout's path stays out of the programs (debug info,
# __FILE__), so the same sources give the same bytes wherever they are built
# (make images is reproducible; tests/images/repro.sh).
BH_CFLAGS := -std=gnu11 -g -O2 -fPIE -fstack-protector-strong $(CFLAGS_WARN) -MMD -MP \
	     -ffile-prefix-map=$(CURDIR)=.
BH_CPPFLAGS := -D_GNU_SOURCE -Icommon/include
BH_LDFLAGS := -pie -Wl,-z,relro,-z,now

ifeq ($(FUZZ),1)
BH_CFLAGS += -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
BH_LDFLAGS += -fsanitize=address,undefined
BH_CPPFLAGS += -DBH_FUZZING
else ifneq ($(SAN),)
BH_CFLAGS += -fsanitize=$(SAN) -fno-sanitize-recover=all -fno-omit-frame-pointer
BH_LDFLAGS += -fsanitize=$(SAN)
else
BH_CPPFLAGS += -D_FORTIFY_SOURCE=2
endif

BH_CFLAGS += $(CFLAGS)
BH_LDFLAGS += $(LDFLAGS)

LIBS_COMMON := $(call pc_libs,$(PC_COMMON) $(PC_CHAN))
LIBS_DOM0 := $(call pc_libs,$(PC_DOM0)) $(LIBS_COMMON)
LIBS_NETDOM := $(call pc_libs,$(PC_NETDOM)) $(LIBS_COMMON)
LIBS_STORDOM := $(call pc_libs,$(PC_STORDOM)) $(LIBS_COMMON) -lpthread
LIBS_VTPM := $(call pc_libs,$(PC_VTPM)) $(LIBS_COMMON)
LIBS_TEST := $(call pc_libs,$(PC_TEST))

# ---------------------------------------------------------------------------
# Sources. Every component is a static library of its files except main.c,
# so that unit tests and fuzz targets link the same code as the programs.

COMMON_SRCS := $(sort $(wildcard common/*.c))
DOM0_SRCS := $(sort $(filter-out dom0/main.c,$(wildcard dom0/*.c)))
NETDOM_SRCS := $(sort $(filter-out netdom/main.c,$(wildcard netdom/*.c)))
STORDOM_SRCS := $(sort $(filter-out stordom/main.c,$(wildcard stordom/*.c)))
VTPM_SRCS := $(sort $(filter-out vtpm/main.c,$(wildcard vtpm/*.c)))

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

LIB_COMMON := $(BUILD)/libbulkhead.a
LIB_DOM0 := $(BUILD)/libdom0.a
LIB_NETDOM := $(BUILD)/libnetdom.a
LIB_STORDOM := $(BUILD)/libstordom.a
LIB_VTPM := $(BUILD)/libvtpm.a

BULKHEAD := $(BUILD)/bulkhead
# A daemon is built once its component has a main.c.
DAEMONS := $(foreach d,netdom stordom vtpm,$(if $(wildcard $(d)/main.c),$(BUILD)/$(d)d))

# Per-component: include flags for its adapter libraries, and link line.
cflags_for = $(call pc_cflags,$(PC_COMMON) $(PC_CHAN) $(PC_TEST) \
	     $(if $(filter dom0/%,$(1)),$(PC_DOM0)) \
	     $(if $(filter netdom/%,$(1)),$(PC_NETDOM)) \
	     $(if $(filter stordom/%,$(1)),$(PC_STORDOM)) \
	     $(if $(filter vtpm/%,$(1)),$(PC_VTPM)))

$(BUILD)/%.o: %.c
	@$(call quiet,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BH_CPPFLAGS) -I$(dir $<) $(BH_CFLAGS) $(call cflags_for,$<) -c -o $@ $<

$(BUILD)/%.a:
	@$(call quiet,AR,$@)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(LIB_COMMON): $(call obj,$(COMMON_SRCS))
$(LIB_DOM0): $(call obj,$(DOM0_SRCS))
$(LIB_NETDOM): $(call obj,$(NETDOM_SRCS))
$(LIB_STORDOM): $(call obj,$(STORDOM_SRCS))
$(LIB_VTPM): $(call obj,$(VTPM_SRCS))

link = $(call quiet,LD,$@) mkdir -p $(dir $@) && \
	$(CC) $(BH_CFLAGS) $(BH_LDFLAGS) -o $@ $(1)

$(BULKHEAD): $(call obj,dom0/main.c) $(LIB_DOM0) $(LIB_COMMON)
	$(Q)$(call link,$^ $(LIBS_DOM0))
$(BUILD)/netdomd: $(call obj,netdom/main.c) $(LIB_NETDOM) $(LIB_COMMON)
	$(Q)$(call link,$^ $(LIBS_NETDOM))
$(BUILD)/stordomd: $(call obj,stordom/main.c) $(LIB_STORDOM) $(LIB_COMMON)
	$(Q)$(call link,$^ $(LIBS_STORDOM))
$(BUILD)/vtpmd: $(call obj,vtpm/main.c) $(LIB_VTPM) $(LIB_COMMON)
	$(Q)$(call link,$^ $(LIBS_VTPM))

PROGRAMS := $(BULKHEAD) $(DAEMONS)

# ---------------------------------------------------------------------------
# Unit tests: tests/unit/<component>/test-<module>.c, one executable each,
# linked with that component's library.

UNIT_SRCS := $(sort $(wildcard tests/unit/*/test-*.c))
UNIT_BINS := $(patsubst %.c,$(BUILD)/%,$(UNIT_SRCS))
TEST_HELPERS := $(sort $(wildcard tests/unit/*/helper-*.c))
TEST_HELPER_BINS := $(patsubst %.c,$(BUILD)/%,$(TEST_HELPERS))

define unit_component
$(filter $(BUILD)/tests/unit/$(1)/%,$(UNIT_BINS) $(TEST_HELPER_BINS)): %: %.o $(2) $(LIB_COMMON)
	$$(Q)$$(call link,$$^ $(3) $$(LIBS_TEST))
endef
$(eval $(call unit_component,common,,$(LIBS_COMMON)))
$(eval $(call unit_component,dom0,$(LIB_DOM0),$(LIBS_DOM0)))
$(eval $(call unit_component,netdom,$(LIB_NETDOM),$(LIBS_NETDOM)))
$(eval $(call unit_component,stordom,$(LIB_STORDOM),$(LIBS_STORDOM)))
$(eval $(call unit_component,vtpm,$(LIB_VTPM),$(LIBS_VTPM)))

# ---------------------------------------------------------------------------
# Fuzz targets: tests/fuzz/fuzz-<name>.c defines LLVMFuzzerTestOneInput.
# Under gcc each is linked with replay.c into replay-<name>, which runs the
# seed corpus tests/fuzz/corpus/<name>/ (make check). `make fuzz` builds the
# real libFuzzer binaries with clang. Targets for dom0 code are listed here.

FUZZ_NAMES := $(patsubst tests/fuzz/fuzz-%.c,%,$(sort $(wildcard tests/fuzz/fuzz-*.c)))
FUZZ_DOM0 := cfg audit tpm2rsp eventlog
FUZZ_NETDOM := policy nflog
FUZZ_STORDOM := nbd
FUZZ_VTPM := tpmframe
fuzz_libs = $(if $(filter $(1),$(FUZZ_DOM0)),$(LIB_DOM0) $(LIB_COMMON) $(LIBS_DOM0),\
	    $(if $(filter $(1),$(FUZZ_NETDOM)),$(LIB_NETDOM) $(LIB_COMMON) $(LIBS_NETDOM),\
	    $(if $(filter $(1),$(FUZZ_STORDOM)),$(LIB_STORDOM) $(LIB_COMMON) $(LIBS_STORDOM),\
	    $(if $(filter $(1),$(FUZZ_VTPM)),$(LIB_VTPM) $(LIB_COMMON) $(LIBS_VTPM),\
	    $(LIB_COMMON) $(LIBS_COMMON)))))
fuzz_deps = $(if $(filter $(1),$(FUZZ_DOM0)),$(LIB_DOM0))$(if $(filter $(1),$(FUZZ_NETDOM)),$(LIB_NETDOM))$(if $(filter $(1),$(FUZZ_STORDOM)),$(LIB_STORDOM))$(if $(filter $(1),$(FUZZ_VTPM)),$(LIB_VTPM))

REPLAY_BINS := $(foreach n,$(FUZZ_NAMES),$(BUILD)/tests/fuzz/replay-$(n))
FUZZ_BINS := $(foreach n,$(FUZZ_NAMES),$(BUILD)/tests/fuzz/fuzz-$(n))

define fuzz_target
$(BUILD)/tests/fuzz/replay-$(1): $(BUILD)/tests/fuzz/fuzz-$(1).o $(BUILD)/tests/fuzz/replay.o \
	$(LIB_COMMON) $(call fuzz_deps,$(1))
	$$(Q)$$(call link,$(BUILD)/tests/fuzz/fuzz-$(1).o $(BUILD)/tests/fuzz/replay.o \
		$$(call fuzz_libs,$(1)))
$(BUILD)/tests/fuzz/fuzz-$(1): $(BUILD)/tests/fuzz/fuzz-$(1).o \
	$(LIB_COMMON) $(call fuzz_deps,$(1))
	$$(Q)$$(call link,-fsanitize=fuzzer $(BUILD)/tests/fuzz/fuzz-$(1).o $$(call fuzz_libs,$(1)))
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call fuzz_target,$(n))))

# ---------------------------------------------------------------------------
# Benchmarks: bench/<name>/run.sh, with helper programs bench/<name>/*.c
# linked against libbulkhead (built by `all`, so they always compile).

BENCH_SRCS := $(sort $(wildcard bench/*/*.c))
BENCH_BINS := $(patsubst %.c,$(BUILD)/%,$(BENCH_SRCS))
$(BENCH_BINS): %: %.o $(LIB_COMMON)
	$(Q)$(call link,$^ $(LIBS_COMMON) -lpthread)

# ---------------------------------------------------------------------------
# Nested Xen (tests/nested/, issue 4): `make check-xen` boots real Xen under
# QEMU and runs chan-xen.c between dom0 and a domU. Its rules live there.

include tests/nested/nested.mk

# ---------------------------------------------------------------------------
# Xen domain images (scripts/mkimages.sh): the Debian kernel and one initramfs
# per service domain and a test guest, from Debian packages (apt-get download
# + dpkg -x into DEB_CACHE, nothing installed) and the daemons built here.

IMAGES_OUT := $(O)/images
DEB_CACHE ?= $(O)/nested

.PHONY: images check-images check-images-boot install-images
images: $(DAEMONS)
	$(Q)if ! command -v cpio >/dev/null || ! command -v xz >/dev/null; then \
		scripts/install-deps.sh; fi
	$(Q)scripts/mkimages.sh $(IMAGES_OUT) $(DEB_CACHE) $(BUILD)

# Reproducibility: two builds (daemons included) from two checkout paths into
# two build dirs give the same bytes. Part of check-xen, which needs the same
# package cache (make check stays offline).
check-images:
	$(Q)tests/images/repro.sh $(O)/repro $(DEB_CACHE)
# The images as they ship, booted under real Xen (QEMU TCG): service domains,
# a state disk formatted then kept, a guest served by netdom, shutdown.
check-images-boot: images $(XEN_SVC_CTL)
	$(Q)tests/images/boot.sh $(O)/images-boot $(DEB_CACHE) $(IMAGES_OUT) $(XEN_SVC_CTL)
check-xen: check-images check-images-boot

# Reliability: the whole check-xen RUNS times over (default 5), each run's
# result and time, then "K of N runs passed"; fails unless every run passed.
RUNS ?= 5
.PHONY: check-xen-repeat
check-xen-repeat:
	$(Q)pass=0; for i in $$(seq 1 $(RUNS)); do t0=$$(date +%s); \
		if $(MAKE) --no-print-directory check-xen >$(O)/check-xen-run$$i.log 2>&1; \
		then r=passed; pass=$$((pass + 1)); else r=FAILED; fi; \
		echo "check-xen run $$i: $$r in $$(($$(date +%s) - t0)) s ($(O)/check-xen-run$$i.log)"; \
		done; echo "check-xen-repeat: $$pass of $(RUNS) runs passed"; [ $$pass = $(RUNS) ]

# The images where the example and demo topologies look for them: the files
# as built, and <role>.vmlinuz / <role>.initrd links (the names configs/ use).
IMAGES_DIR := $(PREFIX)/lib/bulkhead/images
install-images: images
	install -d $(DESTDIR)$(IMAGES_DIR)
	install -m 0644 $(addprefix $(IMAGES_OUT)/,vmlinuz netdom.cpio stordom.cpio vtpm.cpio \
		guest.cpio SHA256SUMS) $(DESTDIR)$(IMAGES_DIR)/
	for r in netdom stordom vtpm guest; do \
		ln -sf vmlinuz $(DESTDIR)$(IMAGES_DIR)/$$r.vmlinuz && \
		ln -sf $$r.cpio $(DESTDIR)$(IMAGES_DIR)/$$r.initrd || exit 1; done

# ---------------------------------------------------------------------------
# Top-level targets

.PHONY: all check check-run demo fuzz fuzz-build fuzz-run bench install clean deps help \
	unit-tests fuzz-replay config-errors integration

all: $(PROGRAMS) $(UNIT_BINS) $(TEST_HELPER_BINS) $(REPLAY_BINS) $(BENCH_BINS)

deps:
	scripts/install-deps.sh

SAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
	   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
TEST_ENV := BH_BUILD=$(BUILD) BH_BULKHEAD=$(abspath $(BULKHEAD)) $(if $(SAN),$(SAN_ENV))

# check: the whole suite plain, then again under ASan+UBSan.
ifeq ($(SAN),)
check: check-run
	$(Q)$(MAKE) --no-print-directory SAN=address,undefined check-run
else
check: check-run
endif

check-run: all
	$(Q)$(TEST_ENV) scripts/run-tests.sh "$(if $(SAN),sanitized,plain)" \
		$(foreach t,$(UNIT_BINS),unit:$(t)) \
		$(foreach n,$(FUZZ_NAMES),fuzz-replay:$(BUILD)/tests/fuzz/replay-$(n)@tests/fuzz/corpus/$(n)) \
		script:tests/config-errors/run.sh \
		$(foreach t,$(sort $(wildcard tests/integration/test-*.sh)),script:$(t))

demo: $(PROGRAMS)
	$(Q)scripts/demo.sh $(BUILD)

fuzz:
	$(Q)$(MAKE) --no-print-directory FUZZ=1 fuzz-build

fuzz-build: $(FUZZ_BINS)

fuzz-run: fuzz
	$(Q)scripts/fuzz-run.sh $(O)/fuzz $(FUZZ_TIME) $(FUZZ_NAMES)

BENCH_NAMES := $(patsubst bench/%/run.sh,%,$(sort $(wildcard bench/*/run.sh)))
bench: $(addprefix bench-,$(BENCH_NAMES))
bench-%: all
	$(Q)BH_BUILD=$(BUILD) bench/$*/run.sh

install: $(PROGRAMS)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/libexec/bulkhead \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0755 $(BULKHEAD) $(DESTDIR)$(PREFIX)/sbin/bulkhead
	$(if $(DAEMONS),install -m 0755 $(DAEMONS) $(DESTDIR)$(PREFIX)/libexec/bulkhead/)
	install -m 0644 docs/bulkhead.cfg.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 $(wildcard docs/*.8) $(DESTDIR)$(PREFIX)/share/man/man8/

clean:
	rm -rf $(O)

help:
	@sed -n '3,25s/^# \{0,1\}//p' Makefile

# Dependency files of this variant only: the plain build dir holds the
# others (san/, fuzz/), the unpacked Debian tree (nested/), the images and
# the reproducibility test's builds (repro/).
DEP_PRUNE := $(filter-out $(BUILD),$(O)/san $(O)/fuzz $(O)/nested $(O)/images $(O)/repro $(O)/images-boot)
-include $(shell find $(BUILD) \( $(foreach d,$(DEP_PRUNE),-path $(d) -o) -false \) -prune -o \
	-name '*.d' -print 2>/dev/null)
