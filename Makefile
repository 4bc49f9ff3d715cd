# xboot top-level build.
#
#   make               everything: BPF objects + skeletons, userspace, kmod
#   make test          every suite (unit, bpf, netns, vm, fuzz smoke)
#   make demo          a real PXE client boots from xboot in namespaces
#   make bootenv       the boot environment: build/bootenv/{vmlinuz,initrd.img,manifest}
#   make bench-dhcp    DHCP benchmark against dnsmasq and Kea
#   make bench-tftp    TFTP/HTTP benchmark against tftpd-hpa, dnsmasq, atftpd, nginx
#   make bench-kmod    TFTP in the 6.1 VM: kfunc vs map vs userspace block source
#   make bench-image   image capture/deploy (1 and 8 at once) against zstd | socat
#   make fuzz          long fuzzing campaigns (FUZZ_SECONDS per target)
#   make SANITIZE=1    userspace with ASan + UBSan
#   make V=1           show commands
#   make KDIR=...      build the kernel module against another tree

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' '$(1)' '$(2)'
endif

B := build
KDIR ?= $(firstword $(wildcard /lib/modules/*-amd64/build /usr/src/linux-headers-*-amd64))

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
PKGS := libbpf libxdp liburing sqlite3 libnl-genl-3.0 libmnl json-c openssl libzstd libxxhash
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS := -O2 -g -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	  -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	  -D_GNU_SOURCE -Iinclude -Iuserspace/lib -Iuserspace/xbootd -I$(B)/include
ifeq ($(SANITIZE),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif
CFLAGS += $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS := $(PKG_LIBS) -lelf -lz
AGENT_LDLIBS := $(shell pkg-config --static --libs openssl libzstd libxxhash liburing 2>/dev/null)

BPF_CFLAGS := -O2 -g -Wall -Werror -target bpf -D__TARGET_ARCH_x86 \
	-Iinclude -I/usr/include/$(shell $(CC) -dumpmachine)

# --- sources -------------------------------------------------------------
LIB_SRC := $(wildcard userspace/lib/*.c)
XBOOTD_SRC := $(wildcard userspace/xbootd/*.c)
XBOOTCTL_SRC := $(wildcard userspace/xbootctl/*.c)
AGENT_SRC := $(wildcard userspace/agent/*.c)
BPF_SRC := $(wildcard ebpf/*.bpf.c)
SKELS := $(patsubst ebpf/%.bpf.c,$(B)/include/%.skel.h,$(BPF_SRC))
BPF_OBJS := $(patsubst ebpf/%.bpf.c,$(B)/ebpf/%.bpf.o,$(BPF_SRC))

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
LIB_OBJ := $(call obj,$(LIB_SRC))
XBOOTD_OBJ := $(call obj,$(XBOOTD_SRC))
# Everything of xbootd but main(): linked into unit and BPF tests.
XBOOTD_CORE_OBJ := $(filter-out %/main.o,$(XBOOTD_OBJ))
XBOOTCTL_OBJ := $(call obj,$(XBOOTCTL_SRC))
AGENT_OBJ := $(call obj,$(AGENT_SRC))

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(UNIT_SRC))
BPFT_SRC := $(wildcard tests/bpf/test_*.c)
BPFT_BIN := $(patsubst tests/bpf/%.c,$(B)/tests/bpf/%,$(BPFT_SRC))
TOOL_SRC := $(wildcard tests/lib/*.c)
TOOL_OBJ := $(call obj,$(TOOL_SRC))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))

PROGS := $(B)/xbootd $(B)/xbootctl $(B)/xboot-agent
# Benchmark tools (load generators): one .c each, libc only.
BENCH_TOOL_SRC := $(wildcard bench/*_load.c)
BENCH_TOOLS := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_TOOL_SRC))

.PHONY: all userspace bpf kmod kmod-btf tests fuzz-build test demo bench-dhcp bench-tftp bench-kmod bench-image bench-tools fuzz bootenv \
	check clean setup format
.DEFAULT_GOAL := all
# Keep intermediate objects (test .o files, BPF objects) between runs.
.SECONDARY:

all: bpf userspace tests bench-tools fuzz-build kmod

setup:
	$(Q)scripts/setup

# Rebuild everything when the flags change (e.g. SANITIZE=1).
$(B)/.flags: FORCE
	$(Q)mkdir -p $(B)
	$(Q)echo '$(CFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CFLAGS) $(LDFLAGS)' > $@
FORCE:

# --- BPF -----------------------------------------------------------------
# xboot_xdp.bpf.c again with xboot.ko's kfuncs as the block source
# (ebpf/xb_block.h); xbootd loads it when the module is there.
SKELS += $(B)/include/xboot_xdp_kfunc.skel.h

bpf: $(SKELS)

$(B)/ebpf/xboot_xdp_kfunc.bpf.o: ebpf/xboot_xdp.bpf.c $(wildcard include/xboot/*.h ebpf/*.h)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -DXB_BLOCK_SOURCE_KFUNC -c $< -o $@

$(B)/ebpf/%.bpf.o: ebpf/%.bpf.c $(wildcard include/xboot/*.h ebpf/*.h)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(B)/include/%.skel.h: $(B)/ebpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@.tmp && mv $@.tmp $@

# --- userspace -----------------------------------------------------------
userspace: $(PROGS)

$(B)/obj/%.o: %.c $(B)/.flags $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(B)/xbootd: $(XBOOTD_OBJ) $(LIB_OBJ)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# xboot-agent runs in the boot environment's initramfs, which has no C
# library: it is linked statically (glibc, OpenSSL).
$(B)/obj/userspace/agent/%.o: CFLAGS += -Iuserspace/agent
$(B)/xboot-agent: $(AGENT_OBJ) $(LIB_OBJ)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -static -o $@ $^ $(AGENT_LDLIBS)

$(B)/xbootctl: $(XBOOTCTL_OBJ) $(B)/obj/userspace/xbootd/kcache.o \
		$(B)/obj/userspace/xbootd/image_store.o $(LIB_OBJ)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# --- tests ---------------------------------------------------------------
tests: $(UNIT_BIN) $(BPFT_BIN) $(patsubst tests/lib/%.c,$(B)/tests/%,$(TOOL_SRC))

# Tests link an archive, so each pulls in only the objects it uses.
$(B)/libxbootd.a: $(XBOOTD_CORE_OBJ) $(LIB_OBJ)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# The agent's modules but main() go into the test archive too; the agent's
# unit tests see its headers.
AGENT_MODS_OBJ := $(filter-out %/main.o,$(AGENT_OBJ))
$(B)/libxbootd.a: $(AGENT_MODS_OBJ)
$(B)/obj/tests/unit/test_inventory.o $(B)/obj/tests/unit/test_job_run.o \
$(B)/obj/tests/unit/test_agent_%.o: CFLAGS += -Iuserspace/agent

$(B)/tests/unit/%: $(B)/obj/tests/unit/%.o $(B)/libxbootd.a
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(B)/tests/bpf/%: $(B)/obj/tests/bpf/%.o $(B)/libxbootd.a
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# Standalone test tools (packet generators, ...): one .c each.
$(B)/tests/%: $(B)/obj/tests/lib/%.o $(B)/libxbootd.a
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench-tools: $(BENCH_TOOLS)

$(B)/bench/%: $(B)/obj/bench/%.o
	$(call msg,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^

# libFuzzer targets: the target file #includes the sources it fuzzes.
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
	-Iinclude -Iuserspace/lib -Iuserspace/xbootd -I$(B)/include $(PKG_CFLAGS)
fuzz-build: $(FUZZ_BIN)

$(B)/fuzz/%: tests/fuzz/%.c $(XBOOTD_SRC) $(LIB_SRC) $(SKELS)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRC) $(LDLIBS)

FUZZ_SECONDS ?= 600
fuzz: fuzz-build
	$(Q)for f in $(FUZZ_BIN); do \
		n=$$(basename $$f); mkdir -p $(B)/corpus/$$n; \
		$$f -max_total_time=$(FUZZ_SECONDS) $(B)/corpus/$$n tests/fuzz/corpus/$$n || exit 1; \
	done

# --- kernel module -------------------------------------------------------
# Kbuild builds xboot.ko in the tree; the finished module, with module BTF
# (the kfuncs need it), is $(B)/kmod/xboot.ko. Distribution headers ship no
# vmlinux, so Kbuild skips BTF: we extract vmlinux from the matching
# /boot/vmlinuz and run pahole and resolve_btfids ourselves, as the
# kernel's Makefile.modfinal would (scripts/setup installs both tools).
# XBOOT_DEBUG=1 builds the self-tests in (run at load).
KREL = $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"/\1/p' $(KDIR)/include/generated/utsrelease.h 2>/dev/null)
XBOOT_LIBEXEC ?= /usr/local/libexec/xboot
PAHOLE ?= pahole
RESOLVE_BTFIDS ?= $(firstword $(wildcard $(KDIR)/tools/bpf/resolve_btfids/resolve_btfids) \
	$(XBOOT_LIBEXEC)/resolve_btfids)
EXTRACT_VMLINUX ?= $(XBOOT_LIBEXEC)/extract-vmlinux
KMOD_VMLINUX = $(firstword $(wildcard $(KDIR)/vmlinux) $(B)/vmlinux-$(KREL))
KMOD_ARGS = $(if $(filter 1,$(XBOOT_DEBUG)),XBOOT_SELFTEST=y) $(if $(filter 1,$(V)),V=1)

kmod:
ifneq ($(KDIR),)
	$(call msg,KMOD,$(KDIR))
	$(Q)mkdir -p $(B)/kmod
	$(Q)$(MAKE) -C $(KDIR) M=$(CURDIR) $(KMOD_ARGS) modules >$(B)/kmod.log 2>&1 \
		|| { cat $(B)/kmod.log; exit 1; }
	$(Q)cp xboot.ko $(B)/kmod/xboot.ko.tmp
	$(Q)$(MAKE) --no-print-directory kmod-btf KMOD_KO=$(B)/kmod/xboot.ko.tmp
	$(Q)mv $(B)/kmod/xboot.ko.tmp $(B)/kmod/xboot.ko
else
	@echo "  SKIP     kmod: no kernel headers (install linux-headers-amd64 or set KDIR)"
endif

# Add .BTF (split against vmlinux) and fill .BTF_ids, unless Kbuild did.
kmod-btf:
	$(Q)if readelf -S --wide $(KMOD_KO) | grep -q ' \.BTF '; then exit 0; fi; \
	if ! command -v $(PAHOLE) >/dev/null || [ ! -x "$(RESOLVE_BTFIDS)" ] || \
	   ! $(MAKE) --no-print-directory -s $(KMOD_VMLINUX); then \
		echo "  WARN     kmod: no module BTF (run scripts/setup); the kfuncs stay unusable"; \
		exit 0; \
	fi; \
	printf '  %-8s %s\n' BTF $(KMOD_KO); \
	LLVM_OBJCOPY=objcopy $(PAHOLE) -J $$(PAHOLE=$(PAHOLE) $(KDIR)/scripts/pahole-flags.sh) \
		--btf_base $(KMOD_VMLINUX) $(KMOD_KO) && \
	$(RESOLVE_BTFIDS) -b $(KMOD_VMLINUX) $(KMOD_KO)

$(B)/vmlinux-%:
	$(Q)[ -x "$(EXTRACT_VMLINUX)" ] && [ -r /boot/vmlinuz-$* ]
	$(call msg,VMLINUX,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(EXTRACT_VMLINUX) /boot/vmlinuz-$* >$@.tmp && mv $@.tmp $@

# sparse (and gcc) over every module source, self-tests included: any
# warning fails.
check:
ifneq ($(KDIR),)
	$(Q)mkdir -p $(B)
	$(Q)$(MAKE) -C $(KDIR) M=$(CURDIR) C=2 XBOOT_SELFTEST=y modules >$(B)/check.log 2>&1 \
		|| { cat $(B)/check.log; exit 1; }
	$(Q)if grep -E 'warning:|error:' $(B)/check.log; then exit 1; fi
	$(Q)echo "  CHECK    sparse: no warnings"
else
	@echo "  SKIP     check: no kernel headers (install linux-headers-amd64 or set KDIR)"
endif

# --- suites and demos ----------------------------------------------------
test:
	$(Q)scripts/setup
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/run

demo:
	$(Q)scripts/setup
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo

bench-dhcp:
	$(Q)scripts/setup
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bench/dhcp.sh

bench-tftp:
	$(Q)scripts/setup
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bench/tftp.sh

bench-kmod:
	$(Q)scripts/setup
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bench/kmod.sh

bench-image:
	$(Q)scripts/setup
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bench/image.sh

# --- boot environment (issue 5) -------------------------------------------
# Debian's 6.1 kernel and an initramfs of busybox, NIC/disk modules, /init
# (bootenv/init) and build/xboot-agent when it exists. Quick: always rebuilt.
bootenv:
	$(Q)scripts/setup
	$(call msg,BOOTENV,$(B)/bootenv)
	$(Q)scripts/mkbootenv $(B)/bootenv

format:
	$(Q)clang-format -i $(XBOOTD_SRC) $(XBOOTCTL_SRC) $(LIB_SRC) $(BPF_SRC) \
		$(wildcard userspace/*/*.h include/*/*.h ebpf/*.h kmod/*.[ch])

clean:
	$(Q)rm -rf $(B)
	$(Q)[ -z "$(KDIR)" ] || $(MAKE) -C $(KDIR) M=$(CURDIR) clean >/dev/null 2>&1 || true

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
