/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Boot media for machines that cannot PXE boot: a floppy, USB or ISO image
 * that takes the machine to xbootd the way a PXE boot would.
 *
 *   floppy  1.44 MB FAT12; BIOS: SYSLINUX -> ipxe.lkrn, whose initrd is the
 *           medium's iPXE script (DHCP or the static address, then chain
 *           http://SERVER/boot/MAC.ipxe, the machine's script from xbootd)
 *   usb     MBR disk, one active FAT partition of type 0xef (the ESP);
 *           BIOS: SYSLINUX as on the floppy; UEFI: EFI/BOOT/BOOTX64.EFI,
 *           a GRUB image that boots the boot environment carried on the
 *           medium (xboot/vmlinuz, xboot/initrd.img) with xboot.* args
 *   iso     El Torito: ISOLINUX as on the floppy, and an EFI FAT image with
 *           the same GRUB; isohybrid, so it can be written to a USB stick
 *
 * Debian's 2019 iPXE cannot take a script from the UEFI command line or
 * the boot medium, hence GRUB and the boot environment for UEFI.
 * The images are built by Debian's tools (mkfs.fat, mtools, syslinux,
 * xorriso, grub-mkimage) run as child processes; only the MBR and the
 * scripts are ours.
 */
#ifndef XBOOTD_MEDIA_H
#define XBOOTD_MEDIA_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

enum media_type {
	MEDIA_FLOPPY,
	MEDIA_USB,
	MEDIA_ISO,
};

#define MEDIA_HTTP_PORT_DEFAULT 8080
#define MEDIA_ERR_MAX 512

/* What to build. Strings may be NULL or "" for "not given". */
struct media_spec {
	enum media_type type;
	const char *out;	 /* the image file to write */
	const char *server;	 /* A.B.C.D[:PORT] or http://A.B.C.D[:PORT][/] */
	const char *mac;	 /* the machine, aa:bb:cc:dd:ee:ff */
	const char *ip;		 /* a static address A.B.C.D/PREFIX */
	const char *gateway;	 /* with ip */
	const char *kernel;	 /* boot environment (usb, iso) */
	const char *initrd;
	const char *ca;		 /* a CA (PEM) to pin, put in the initramfs */
	const char *enrol;	 /* an enrolment credential for the agent */
	const char *kernel_args; /* more kernel arguments (console=...) */
	const char *sysroot;	 /* prefix of Debian's boot binaries ("") */
};

/* The spec checked and taken apart. */
struct media_plan {
	enum media_type type;
	char base_url[64];	 /* http://A.B.C.D:PORT */
	struct in_addr server;
	uint16_t port;
	char mac[18];		 /* "" when not given */
	int has_ip;
	struct in_addr ip, netmask, gateway;
	int prefix;
	char id[17];		 /* names this medium's marker file */
};

int media_type_parse(const char *s, enum media_type *type);
const char *media_type_name(enum media_type type);

/* Check spec into plan; -EINVAL with a message naming the bad field. */
int media_plan_make(const struct media_spec *spec, struct media_plan *plan,
		    char *err, size_t errlen);

/* The generated texts, malloc'd (NULL: out of memory). */
char *media_ipxe_script(const struct media_plan *plan);
char *media_syslinux_cfg(const struct media_plan *plan);
char *media_grub_cfg(const struct media_plan *plan,
		     const struct media_spec *spec);

/*
 * Build spec->out. 0, or a negative errno with a message in err: an
 * unknown type, an unwritable output, a missing tool or boot binary (with
 * the Debian package that has it), an address that does not parse, or
 * the failing tool's own words. The image appears at spec->out only
 * whole (written beside it, then renamed).
 */
int media_create(const struct media_spec *spec, char *err, size_t errlen);

#endif /* XBOOTD_MEDIA_H */
