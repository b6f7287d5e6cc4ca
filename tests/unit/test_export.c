/*
 * Export/import: a round trip keeps memory, vCPU state and identity; the
 * loader refuses every tampered field (checksums recomputed, so that the
 * field check itself is what refuses), a flipped byte, and a truncated or
 * extended file. usage: test_unit_export SWAPCOUNT_IMAGE
 */
#include "sched/crc32c.h"
#include "sched/export.h"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static const char *image;
static char path[] = "/dev/shm/denali-export-XXXXXX";
static char err[256];
static uint8_t *file;
static size_t file_len;
static struct vm *src;

static uint8_t *slurp(const char *p, size_t *len)
{
	struct stat st;
	int fd = open(p, O_RDONLY);
	uint8_t *b;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size + 1);
	assert_int_equal(read(fd, b, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static void spit(const uint8_t *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	close(fd);
}

static int setup(void **state)
{
	char *argv[] = {"swapcount", "64", "5", NULL};
	size_t elf_len;
	uint8_t *elf = slurp(image, &elf_len);
	struct vm_config cfg = {"exp-1", "swapcount", elf, elf_len, 4u << 20, 77, 3, argv};
	int fd = mkstemp(path);

	(void)state;
	if (fd < 0 || vm_create(&cfg, &src, err, sizeof(err)))
		return -1;
	close(fd);
	free(elf);
	/* A pattern in the working set, as a running guest would leave. */
	for (unsigned i = 0; i < 64 * 1024; i++)
		src->mem[(1u << 20) + i] = (uint8_t)(i * 7 + 3);
	src->status = VM_IDLE;
	src->idle_gpa = 0x200000;
	if (vm_export(src, path, err, sizeof(err)))
		return -1;
	file = slurp(path, &file_len);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vm_destroy(src);
	free(file);
	unlink(path);
	return 0;
}

static struct export_header *hdr(uint8_t *b)
{
	return (struct export_header *)b;
}

/* Rewrites both checksums of a (modified) copy of the export. */
static void reseal(uint8_t *b, size_t len)
{
	struct export_header *h = hdr(b);

	h->body_crc = crc32c(0, b + sizeof(*h), len - sizeof(*h));
	h->header_crc = 0;
	h->header_crc = crc32c(0, h, sizeof(*h));
}

/* Imports b (written to the file) and expects a refusal naming why. */
static void refused(uint8_t *b, size_t len, const char *why)
{
	struct vm *vm = NULL;

	spit(b, len);
	if (vm_import(path, 0, &vm, err, sizeof(err)) == 0)
		fail_msg("accepted a file that should fail with '%s'", why);
	assert_null(vm);
	if (!strstr(err, why))
		fail_msg("expected '%s', got '%s'", why, err);
}

static void test_round_trip(void **state)
{
	struct vm *vm = NULL;

	(void)state;
	spit(file, file_len);
	assert_int_equal(vm_import(path, 0, &vm, err, sizeof(err)), 0);
	assert_string_equal(vm->name, "exp-1");
	assert_int_equal(vm->id, 77);
	assert_int_equal(vm->mem_size, src->mem_size);
	assert_memory_equal(vm->mem, src->mem, src->mem_size);
	assert_memory_equal(vm->state, src->state, sizeof(*vm->state));
	assert_int_equal(vm->status, VM_IDLE);
	assert_int_equal(vm->idle_gpa, 0x200000);
	assert_true(vm->need_load);
	vm_destroy(vm);
	/* A new id on import. */
	assert_int_equal(vm_import(path, 9, &vm, err, sizeof(err)), 0);
	assert_int_equal(vm->id, 9);
	assert_int_equal(vm->vregs->vm_id, 9);
	vm_destroy(vm);
}

/* Each header field in turn, resealed: the field check refuses it. */
static void test_header_fields(void **state)
{
	uint8_t *b = malloc(file_len);
	struct {
		size_t off, size;
		uint64_t value;
		const char *why;
	} cases[] = {
	    {offsetof(struct export_header, version), 4, 1, "format version"},
	    {offsetof(struct export_header, abi_version), 4, 999, "ABI version"},
	    {offsetof(struct export_header, npages), 4, 0xffffffffu, "more pages than memory"},
	    {offsetof(struct export_header, npages), 4, 1, "trailing bytes"},
	    {offsetof(struct export_header, mem_size), 8, 3u << 20, "bad memory size"},
	    {offsetof(struct export_header, mem_size), 8, 1ull << 40, "bad memory size"},
	    {offsetof(struct export_header, mem_size), 8, 2u << 20, "outside guest memory"},
	    {offsetof(struct export_header, vm_id), 8, 0, "bad VM id"},
	    {offsetof(struct export_header, state_len), 4, 100, "vCPU state size"},
	    {offsetof(struct export_header, dev_len), 4, 1u << 30, "device state too large"},
	    {offsetof(struct export_header, dev_len), 4, 8, "trailing bytes"},
	    {offsetof(struct export_header, state_len), 4, sizeof(struct vcpu_state) + 4,
	     "vCPU state size"},
	    {offsetof(struct export_header, pad), 4, 1, "padding"},
	    {offsetof(struct export_header, name), 1, 0, "bad VM name"},
	    {offsetof(struct export_header, name), 1, '/', "bad VM name"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(b, file, file_len);
		memcpy(b + cases[i].off, &cases[i].value, cases[i].size);
		reseal(b, file_len);
		refused(b, file_len, cases[i].why);
	}
	memcpy(b, file, file_len);
	memset(hdr(b)->name, 'a', sizeof(hdr(b)->name)); /* no terminator */
	reseal(b, file_len);
	refused(b, file_len, "bad VM name");
	memcpy(b, file, file_len);
	hdr(b)->dev_len += 8; /* claims more than the file has */
	reseal(b, file_len);
	refused(b, file_len, "truncated");
	memcpy(b, file, file_len);
	memcpy(b, "DNLSNAP1", 8);
	refused(b, file_len, "not a denali VM export");
	free(b);
}

static void test_checksums_and_length(void **state)
{
	uint8_t *b = malloc(file_len + 4096);

	(void)state;
	memcpy(b, file, file_len);
	b[offsetof(struct export_header, vm_id)] ^= 1; /* not resealed */
	refused(b, file_len, "header checksum");
	/* Past the page table (a flipped page number is refused as one). */
	for (size_t off = sizeof(struct export_header) + hdr(file)->npages * 4u; off < file_len;
	     off += file_len / 7) {
		memcpy(b, file, file_len);
		b[off] ^= 0x40;
		refused(b, file_len, "checksum");
	}
	memcpy(b, file, file_len);
	b[file_len - 1] ^= 1; /* the last byte of the last page */
	refused(b, file_len, "body checksum");
	memcpy(b, file, file_len);
	size_t cuts[] = {0,
			 10,
			 sizeof(struct export_header),
			 sizeof(struct export_header) + 3,
			 file_len / 2,
			 file_len - 1};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
		refused(b, cuts[i], "truncated");
	memset(b + file_len, 0, 4096);
	refused(b, file_len + 1, "trailing bytes");
	free(b);
}

static struct vcpu_state *state_of(uint8_t *b)
{
	return (struct vcpu_state *)(b + sizeof(struct export_header) + hdr(b)->npages * 4u);
}

/* The vCPU state, a field at a time, through vcpu_state_check(): nothing
 * that leaves ring 3 or moves the monitor's tables. */
static void test_state(void **state)
{
	uint8_t *b = malloc(file_len);
	struct vcpu_state *st;

	(void)state;
#define STATE_CASE(stmt, why)                                                                      \
	do {                                                                                       \
		memcpy(b, file, file_len);                                                         \
		st = state_of(b);                                                                  \
		stmt;                                                                              \
		reseal(b, file_len);                                                               \
		refused(b, file_len, why);                                                         \
	} while (0)
	STATE_CASE(st->sregs.cs.dpl = 0, "ring-3 code segment");
	STATE_CASE(st->sregs.cs.selector &= ~3u, "ring-3 code segment");
	STATE_CASE(st->sregs.cs.l = 0, "ring-3 code segment");
	STATE_CASE(st->sregs.cs.base = 0x1000, "ring-3 code segment");
	STATE_CASE(st->sregs.ss.dpl = 0, "ring-3 data segment");
	STATE_CASE(st->sregs.ss.selector = 0x10, "ring-3 data segment");
	STATE_CASE((st->sregs.ds = (struct kvm_segment){.present = 1, .s = 1, .selector = 0x10}),
		   "neither null nor a ring-3");
	STATE_CASE((st->sregs.fs = (struct kvm_segment){.present = 1, .s = 1, .selector = 0x18}),
		   "neither null nor a ring-3");
	STATE_CASE(st->sregs.cr0 &= ~(1ull << 31), "control registers");
	STATE_CASE(st->sregs.cr3 = 0x1000, "control registers");
	STATE_CASE(st->sregs.cr4 |= 1ull << 20, "control registers"); /* SMEP */
	STATE_CASE(st->sregs.efer |= 1, "control registers");	      /* SCE */
	STATE_CASE(st->sregs.cr8 = 1, "control registers");
	STATE_CASE(st->sregs.idt.limit = 0xfff, "idt");
	STATE_CASE(st->sregs.gdt.base = 0x100000, "gdt");
	STATE_CASE(st->sregs.tr.base = 0x100000, "the monitor's TSS");
	STATE_CASE((st->sregs.ldt.unusable = 0, st->sregs.ldt.base = 0x1000), "there is no LDT");
	STATE_CASE(st->sregs.apic_base = 0, "control registers");
	STATE_CASE(st->sregs.interrupt_bitmap[0] = 1, "interrupt is pending");
	STATE_CASE(st->regs.rflags |= 0x3000, "rflags");   /* IOPL 3 */
	STATE_CASE(st->regs.rflags |= 1u << 17, "rflags"); /* VM */
	STATE_CASE(st->regs.rflags &= ~2ull, "rflags");
	STATE_CASE(st->regs.rflags &= ~0x200ull, "rflags"); /* IF clear */
	STATE_CASE(st->regs.rip = 1ull << 40, "outside guest memory");
	STATE_CASE(st->msrs.entries[1].data = 1, "MSR");
	STATE_CASE(st->msrs.hdr.nmsrs = 1, "MSR count");
	STATE_CASE(st->msrs.entries[0].index = 0x1b, "is not the monitor's");
	free(b);
}

static void test_pages_and_devices(void **state)
{
	uint8_t *b = malloc(file_len);
	uint32_t *table = (uint32_t *)(b + sizeof(struct export_header));
	uint32_t n = hdr(file)->npages;
	uint8_t *blob;

	(void)state;
	assert_true(n > 3);
	memcpy(b, file, file_len);
	table[0] = 0;
	reseal(b, file_len);
	refused(b, file_len, "page number");
	memcpy(b, file, file_len);
	table[1] = table[0];
	reseal(b, file_len);
	refused(b, file_len, "page number");
	memcpy(b, file, file_len);
	table[n - 1] = (4u << 20) / 4096;
	reseal(b, file_len);
	refused(b, file_len, "page number");
	/* The device blob: its status word, its device count. */
	blob = (uint8_t *)state_of(b) + sizeof(struct vcpu_state);
	memcpy(b, file, file_len);
	blob[8] = 4; /* status VM_KILLED */
	reseal(b, file_len);
	refused(b, file_len, "not idle or runnable");
	memcpy(b, file, file_len);
	blob[0] = 'X';
	reseal(b, file_len);
	refused(b, file_len, "another version");
	free(b);
}

/* Offset of the data of the idx-th page in the file. */
static size_t page_data_off(const uint8_t *b, uint32_t idx)
{
	const struct export_header *h = (const struct export_header *)b;

	return sizeof(*h) + (size_t)h->npages * 4 + h->state_len + h->dev_len + (size_t)idx * 4096;
}

/* The page and descriptor tables are the monitor's: an export never carries
 * them, a file that does is refused, and the importer builds its own. */
static void test_private_pages(void **state)
{
	uint8_t *b = malloc(file_len);
	uint32_t *table = (uint32_t *)(b + sizeof(struct export_header));
	uint32_t n = hdr(file)->npages, first_user = n;
	const uint32_t *ftable = (const uint32_t *)(file + sizeof(struct export_header));
	struct vm *vm = NULL;

	(void)state;
	for (uint32_t i = 0; i < n; i++) {
		assert_false(ftable[i] >= DENALI_PRIVATE_GPA / 4096 &&
			     ftable[i] < DENALI_RESERVED_END / 4096);
		if (first_user == n && ftable[i] >= DENALI_RESERVED_END / 4096)
			first_user = i;
	}
	assert_true(first_user > 0 && first_user < n);
	assert_true(ftable[first_user - 1] < DENALI_PRIVATE_GPA / 4096);
	/* A forged PML4 page (or any private page) in place of a user page. */
	memcpy(b, file, file_len);
	table[first_user] = DENALI_PRIVATE_GPA / 4096;
	reseal(b, file_len);
	refused(b, file_len, "monitor-private");
	memcpy(b, file, file_len);
	table[first_user] = DENALI_RESERVED_END / 4096 - 1;
	reseal(b, file_len);
	refused(b, file_len, "monitor-private");
	/* The import's tables are the ones vm_create built. */
	spit(file, file_len);
	assert_int_equal(vm_import(path, 0, &vm, err, sizeof(err)), 0);
	assert_memory_equal(vm->mem + DENALI_PRIVATE_GPA, src->mem + DENALI_PRIVATE_GPA,
			    DENALI_RESERVED_END - DENALI_PRIVATE_GPA);
	vm_destroy(vm);
	free(b);
}

/* The vregs page is the monitor's: forged network, disk and size fields in
 * the file do not survive the import; the guest's own arguments do. */
static void test_vregs_forged(void **state)
{
	uint8_t *b = malloc(file_len);
	const uint32_t *table = (const uint32_t *)(file + sizeof(struct export_header));
	struct denali_vregs *vr;
	struct vm *vm = NULL;

	(void)state;
	memcpy(b, file, file_len);
	assert_int_equal(table[0], DENALI_VREGS_GPA / 4096);
	vr = (struct denali_vregs *)(b + page_data_off(b, 0));
	assert_int_equal(vr->magic, DENALI_VREGS_MAGIC);
	vr->ipv4_addr = 0x0a000001;
	vr->ipv4_gateway = 0x0a0000fe;
	vr->mac[0] = 0x02;
	vr->mtu = 9000;
	vr->blk_sectors = 1u << 30;
	vr->mem_size = 1ull << 40;
	vr->magic = 0;
	reseal(b, file_len);
	spit(b, file_len);
	assert_int_equal(vm_import(path, 0, &vm, err, sizeof(err)), 0);
	assert_int_equal(vm->vregs->magic, DENALI_VREGS_MAGIC);
	assert_int_equal(vm->vregs->mem_size, src->mem_size);
	assert_int_equal(vm->vregs->ipv4_addr, 0);
	assert_int_equal(vm->vregs->ipv4_gateway, 0);
	assert_int_equal(vm->vregs->mac[0], 0);
	assert_int_equal(vm->vregs->mtu, 0);
	assert_int_equal(vm->vregs->blk_sectors, 0);
	assert_int_equal(vm->vregs->argc, src->vregs->argc);
	assert_memory_equal(vm->vregs->args, src->vregs->args, DENALI_ARGS_MAX);
	assert_memory_equal(vm->vregs->secret, src->vregs->secret, sizeof(vm->vregs->secret));
	vm_destroy(vm);
	free(b);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),		 cmocka_unit_test(test_header_fields),
	    cmocka_unit_test(test_checksums_and_length), cmocka_unit_test(test_state),
	    cmocka_unit_test(test_pages_and_devices),	 cmocka_unit_test(test_private_pages),
	    cmocka_unit_test(test_vregs_forged),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s SWAPCOUNT_IMAGE\n", argv[0]);
		return 2;
	}
	image = argv[1];
	return cmocka_run_group_tests(tests, setup, teardown);
}
