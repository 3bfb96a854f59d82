# SPDX-License-Identifier: MIT
#
# Nested-Xen test (tests/nested/): real Xen 4.17 + a Debian dom0 + PV domUs
# booted under QEMU TCG: chan-xen.c exercised between dom0 and a domU, then
# netdomd, stordomd and vtpmd each run in a service domU of its own, driven
# from dom0 over chan-xen. Included from the top-level Makefile.
#
#   make check-xen       fetch the Debian packages (cached in $(O)/nested),
#                        build the images, boot, check the markers
#
# Knobs: NESTED_TIMEOUT=seconds (whole QEMU run), NESTED_VERBOSE=1 (echo the
# serial console while it runs).

NESTED_OUT := $(O)/nested
XEN_STRESS := $(NESTED_OUT)/xen-chan-stress
# dom0's end of a service's control channel, for tests/images/boot.sh (make
# check-images-boot), which boots the shipped images with plain xl.
XEN_SVC_CTL := $(NESTED_OUT)/xen-svc-ctl

# Linked statically so one binary runs in dom0 and in a domU that carries no
# shared libraries. Not PIE: Debian's libxen*.a are not built position-
# independent. Only the archive members the program pulls in are linked.
XEN_STATIC_LIBS := -lxenvchan -lxenstore -lxengnttab -lxenevtchn -lxentoollog -lxentoolcore \
	-lpthread

$(XEN_STRESS): $(BUILD)/tests/nested/xen-chan-stress.o $(LIB_COMMON)
	@$(call quiet,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) -static -o $@ $^ $(XEN_STATIC_LIBS)

$(XEN_SVC_CTL): $(BUILD)/tests/nested/xen-svc-ctl.o $(LIB_COMMON)
	@$(call quiet,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) -static -o $@ $^ $(XEN_STATIC_LIBS)

.PHONY: check-xen
# The host tools are not pkg-config modules, so the top-level dependency
# check cannot see them missing: install them here (as root) when needed.
# The daemons and `bulkhead` go into the images exactly as `make` built them.
# The service domains boot the images `make images` built (IMAGES_OUT, in
# the top Makefile), with the test's checks added.
check-xen: $(XEN_STRESS) $(BULKHEAD) $(DAEMONS) images
	$(Q)if ! command -v qemu-system-x86_64 >/dev/null || ! command -v cpio >/dev/null || \
		! command -v xz >/dev/null; then \
		scripts/install-deps.sh; fi
	$(Q)tests/nested/run.sh $(NESTED_OUT) $(XEN_STRESS) $(BUILD) $(IMAGES_OUT)
