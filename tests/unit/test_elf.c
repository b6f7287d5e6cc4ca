/*
 * ELF loader: a good static image loads; every malformed image is refused
 * with -ENOEXEC, a reason naming what is wrong, and guest memory untouched.
 * Images are built in memory from <elf.h> structures.
 */
#include "vmm/elf.h"

#include <denali/abi.h>
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#define MEM_SIZE  (2u << 20)
#define TEXT_VA	  0x100000u
#define DATA_VA	  0x180000u
#define TEXT_OFF  0x1000u
#define TEXT_LEN  0x80u
#define DATA_OFF  0x1080u
#define DATA_LEN  0x20u
#define DATA_MEM  0x1000u /* memsz: DATA_LEN bytes of data, the rest BSS */
#define FILE_SIZE 0x2000u
#define ENTRY	  (TEXT_VA + 0x10u)

struct image {
	uint8_t *file;
	size_t size;
};

static Elf64_Ehdr *ehdr(struct image *im)
{
	return (Elf64_Ehdr *)im->file;
}

static Elf64_Phdr *phdr(struct image *im, unsigned i)
{
	return (Elf64_Phdr *)(im->file + ehdr(im)->e_phoff) + i;
}

static void set_phdr(Elf64_Phdr *ph, uint32_t type, uint32_t flags, uint64_t off, uint64_t va,
		     uint64_t filesz, uint64_t memsz)
{
	memset(ph, 0, sizeof(*ph));
	ph->p_type = type;
	ph->p_flags = flags;
	ph->p_offset = off;
	ph->p_vaddr = va;
	ph->p_paddr = va;
	ph->p_filesz = filesz;
	ph->p_memsz = memsz;
	ph->p_align = 0x1000;
}

/*
 * A valid static x86-64 executable: a text segment (R+X) and a data segment
 * (R+W) whose memsz exceeds its filesz, with recognisable byte patterns.
 * Room is left for up to 4 program headers.
 */
static struct image good_image(void)
{
	struct image im = {.file = calloc(1, FILE_SIZE), .size = FILE_SIZE};
	Elf64_Ehdr *eh;

	assert_non_null(im.file);
	eh = ehdr(&im);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = ENTRY;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = 2;
	set_phdr(phdr(&im, 0), PT_LOAD, PF_R | PF_X, TEXT_OFF, TEXT_VA, TEXT_LEN, TEXT_LEN);
	set_phdr(phdr(&im, 1), PT_LOAD, PF_R | PF_W, DATA_OFF, DATA_VA, DATA_LEN, DATA_MEM);
	for (unsigned i = 0; i < TEXT_LEN; i++)
		im.file[TEXT_OFF + i] = (uint8_t)(0x90 + i);
	for (unsigned i = 0; i < DATA_LEN; i++)
		im.file[DATA_OFF + i] = (uint8_t)(0xa0 + i);
	/* Non-zero bytes right after the data segment's file part: must not
	 * leak into its BSS. */
	memset(im.file + DATA_OFF + DATA_LEN, 0xee, 0x40);
	return im;
}

static uint8_t *zero_mem(void)
{
	uint8_t *mem = calloc(1, MEM_SIZE);

	assert_non_null(mem);
	return mem;
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/*
 * Runs elf_check and elf_load on the image; both must refuse it with
 * -ENOEXEC and a reason containing want, and the load must not touch memory.
 */
static void expect_reject(struct image *im, const char *want)
{
	char err[256] = "";
	uint64_t entry = 0x1234;
	uint8_t *mem = zero_mem();

	assert_int_equal(elf_check(im->file, im->size, MEM_SIZE, &entry, err, sizeof(err)),
			 -ENOEXEC);
	if (!strstr(err, want))
		fail_msg("elf_check: reason \"%s\" does not contain \"%s\"", err, want);
	err[0] = '\0';
	assert_int_equal(elf_load(im->file, im->size, mem, MEM_SIZE, &entry, err, sizeof(err)),
			 -ENOEXEC);
	if (!strstr(err, want))
		fail_msg("elf_load: reason \"%s\" does not contain \"%s\"", err, want);
	assert_int_equal(entry, 0x1234); /* not written on failure */
	assert_true(all_zero(mem, MEM_SIZE));
	free(mem);
	free(im->file);
}

static void test_good_image_loads(void **state)
{
	struct image im = good_image();
	uint8_t *mem = zero_mem();
	uint64_t entry = 0;
	char err[256] = "";

	(void)state;
	assert_int_equal(elf_check(im.file, im.size, MEM_SIZE, &entry, err, sizeof(err)), 0);
	assert_int_equal(entry, ENTRY);
	assert_true(all_zero(mem, MEM_SIZE)); /* check copies nothing */
	entry = 0;
	assert_int_equal(elf_load(im.file, im.size, mem, MEM_SIZE, &entry, err, sizeof(err)), 0);
	assert_int_equal(entry, ENTRY);
	assert_memory_equal(mem + TEXT_VA, im.file + TEXT_OFF, TEXT_LEN);
	assert_memory_equal(mem + DATA_VA, im.file + DATA_OFF, DATA_LEN);
	/* BSS of the data segment stays zero, and so does everything not loaded. */
	assert_true(all_zero(mem + DATA_VA + DATA_LEN, DATA_MEM - DATA_LEN));
	assert_true(all_zero(mem, TEXT_VA));
	assert_true(all_zero(mem + TEXT_VA + TEXT_LEN, DATA_VA - TEXT_VA - TEXT_LEN));
	assert_true(all_zero(mem + DATA_VA + DATA_MEM, MEM_SIZE - DATA_VA - DATA_MEM));
	free(mem);
	free(im.file);
}

static void test_good_image_other_segments_ignored(void **state)
{
	struct image im = good_image();
	uint8_t *mem = zero_mem();
	uint64_t entry = 0;
	char err[256] = "";

	(void)state;
	/* PT_NOTE and PT_GNU_STACK are not loaded and not refused. A segment
	 * that ends exactly at the end of guest memory is accepted. */
	ehdr(&im)->e_phnum = 4;
	set_phdr(phdr(&im, 2), PT_NOTE, PF_R, 0, 0, 0, 0);
	set_phdr(phdr(&im, 3), PT_LOAD, PF_R, 0x1800, MEM_SIZE - 0x10, 0x10, 0x10);
	memset(im.file + 0x1800, 0x5a, 0x10);
	assert_int_equal(elf_load(im.file, im.size, mem, MEM_SIZE, &entry, err, sizeof(err)), 0);
	assert_int_equal(mem[MEM_SIZE - 1], 0x5a);
	assert_int_equal(mem[MEM_SIZE - 0x10], 0x5a);
	free(mem);
	free(im.file);
}

/* Linkers emit empty PT_LOADs (no file bytes, no memory) at address 0 for
 * empty sections: they load nothing and are not refused. A segment with
 * memory but below the reserved end still is. */
static void test_empty_segment_at_zero_ignored(void **state)
{
	struct image im = good_image();
	uint8_t *mem = zero_mem();
	uint64_t entry = 0;
	char err[256] = "";

	(void)state;
	ehdr(&im)->e_phnum = 3;
	set_phdr(phdr(&im, 2), PT_LOAD, PF_R, 0, 0, 0, 0);
	assert_int_equal(elf_load(im.file, im.size, mem, MEM_SIZE, &entry, err, sizeof(err)), 0);
	assert_int_equal(entry, ENTRY);
	assert_true(all_zero(mem, TEXT_VA));
	free(mem);
	phdr(&im, 2)->p_memsz = 1;
	expect_reject(&im, "reserved low pages"); /* frees the image */
}

static void test_bad_magic(void **state)
{
	struct image im = good_image();

	(void)state;
	ehdr(&im)->e_ident[EI_MAG1] = 'e';
	expect_reject(&im, "bad magic");
}

static void test_class32(void **state)
{
	struct image im = good_image();

	(void)state;
	ehdr(&im)->e_ident[EI_CLASS] = ELFCLASS32;
	expect_reject(&im, "not a 64-bit ELF");
}

static void test_big_endian(void **state)
{
	struct image im = good_image();

	(void)state;
	ehdr(&im)->e_ident[EI_DATA] = ELFDATA2MSB;
	expect_reject(&im, "not a little-endian ELF");
}

static void test_bad_version(void **state)
{
	struct image im = good_image();

	(void)state;
	ehdr(&im)->e_version = 2;
	expect_reject(&im, "unknown ELF version");
}

static void test_wrong_machine(void **state)
{
	struct image im = good_image();

	(void)state;
	ehdr(&im)->e_machine = EM_AARCH64;
	expect_reject(&im, "wrong machine");
}

static void test_type_dyn(void **state)
{
	struct image im = good_image();

	(void)state;
	ehdr(&im)->e_type = ET_DYN;
	expect_reject(&im, "not a static executable");
}

static void test_type_rel(void **state)
{
	struct image im = good_image();

	(void)state;
	ehdr(&im)->e_type = ET_REL;
	expect_reject(&im, "not a static executable");
}

static void test_bad_phentsize(void **state)
{
	struct image im = good_image();

	(void)state;
	ehdr(&im)->e_phentsize = sizeof(Elf64_Phdr) - 1;
	expect_reject(&im, "bad program header size");
}

static void test_phnum_zero(void **state)
{
	struct image im = good_image();

	(void)state;
	ehdr(&im)->e_phnum = 0;
	expect_reject(&im, "bad program header count");
}

static void test_phnum_too_many(void **state)
{
	struct image im = good_image();

	(void)state;
	ehdr(&im)->e_phnum = 65; /* the file is large enough for 65 headers */
	assert_true(sizeof(Elf64_Ehdr) + 65 * sizeof(Elf64_Phdr) <= im.size);
	expect_reject(&im, "bad program header count");
}

static void test_phdrs_beyond_file(void **state)
{
	struct image im = good_image();

	(void)state;
	ehdr(&im)->e_phoff = FILE_SIZE - sizeof(Elf64_Phdr); /* second header past EOF */
	expect_reject(&im, "program headers end beyond the file");
}

static void test_phoff_overflow(void **state)
{
	struct image im = good_image();

	(void)state;
	ehdr(&im)->e_phoff = UINT64_MAX - sizeof(Elf64_Phdr);
	expect_reject(&im, "program headers end beyond the file");
}

static void test_filesz_gt_memsz(void **state)
{
	struct image im = good_image();

	(void)state;
	phdr(&im, 1)->p_filesz = DATA_MEM + 1;
	phdr(&im, 1)->p_offset = 0;
	expect_reject(&im, "exceeds memory size");
}

static void test_segment_truncated(void **state)
{
	struct image im = good_image();

	(void)state;
	phdr(&im, 1)->p_offset = FILE_SIZE - DATA_LEN + 1; /* one byte past EOF */
	expect_reject(&im, "truncated: segment 1 data");
}

static void test_offset_filesz_overflow(void **state)
{
	struct image im = good_image();

	(void)state;
	phdr(&im, 1)->p_offset = UINT64_MAX - 4;
	expect_reject(&im, "file offset + size overflows");
}

static void test_vaddr_memsz_overflow(void **state)
{
	struct image im = good_image();

	(void)state;
	phdr(&im, 1)->p_vaddr = UINT64_MAX - 0x10;
	expect_reject(&im, "address + size overflows");
}

static void test_segment_in_reserved_low_pages(void **state)
{
	struct image im = good_image();

	(void)state;
	/* Ends exactly at DENALI_RESERVED_END but starts below it. */
	phdr(&im, 1)->p_vaddr = DENALI_RESERVED_END - DATA_MEM;
	expect_reject(&im, "reserved low pages");
}

static void test_segment_at_zero(void **state)
{
	struct image im = good_image();

	(void)state;
	phdr(&im, 1)->p_vaddr = 0;
	expect_reject(&im, "reserved low pages");
}

static void test_segment_beyond_memory(void **state)
{
	struct image im = good_image();

	(void)state;
	phdr(&im, 1)->p_vaddr = MEM_SIZE - DATA_MEM + 1; /* last byte one past the end */
	expect_reject(&im, "outside guest memory");
}

static void test_segment_far_beyond_memory(void **state)
{
	struct image im = good_image();

	(void)state;
	phdr(&im, 1)->p_vaddr = 1ull << 40;
	expect_reject(&im, "outside guest memory");
}

static void test_entry_outside_segments(void **state)
{
	struct image im = good_image();

	(void)state;
	ehdr(&im)->e_entry = TEXT_VA + TEXT_LEN; /* one past the text segment */
	expect_reject(&im, "outside every executable segment");
}

static void test_entry_zero(void **state)
{
	struct image im = good_image();

	(void)state;
	ehdr(&im)->e_entry = 0;
	expect_reject(&im, "outside every executable segment");
}

static void test_entry_in_data_segment(void **state)
{
	struct image im = good_image();

	(void)state;
	ehdr(&im)->e_entry = DATA_VA; /* loaded, but not executable */
	expect_reject(&im, "outside every executable segment");
}

static void test_pt_interp(void **state)
{
	struct image im = good_image();

	(void)state;
	ehdr(&im)->e_phnum = 3;
	set_phdr(phdr(&im, 2), PT_INTERP, PF_R, 0x1800, 0, 0x10, 0x10);
	expect_reject(&im, "dynamic executables are not supported");
}

static void test_pt_dynamic(void **state)
{
	struct image im = good_image();

	(void)state;
	ehdr(&im)->e_phnum = 3;
	set_phdr(phdr(&im, 2), PT_DYNAMIC, PF_R | PF_W, 0x1800, DATA_VA, 0x10, 0x10);
	expect_reject(&im, "dynamic executables are not supported");
}

static void test_no_pt_load(void **state)
{
	struct image im = good_image();

	(void)state;
	phdr(&im, 0)->p_type = PT_NOTE;
	phdr(&im, 1)->p_type = PT_GNU_STACK;
	expect_reject(&im, "no loadable segment");
}

static void test_shorter_than_header(void **state)
{
	static const size_t sizes[] = {0, 1, sizeof(Elf64_Ehdr) - 1};

	(void)state;
	assert_int_equal(sizeof(Elf64_Ehdr), 64);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct image im = good_image();

		im.size = sizes[i];
		expect_reject(&im, "shorter than an ELF header");
	}
}

static void test_failed_load_after_good_segment(void **state)
{
	struct image im = good_image();

	(void)state;
	/* The first segment is good and would be copied by a one-pass loader;
	 * the second is bad. Nothing may reach guest memory (expect_reject
	 * checks that all of it is still zero). */
	phdr(&im, 1)->p_vaddr = MEM_SIZE;
	expect_reject(&im, "segment 1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_image_loads),
	    cmocka_unit_test(test_good_image_other_segments_ignored),
	    cmocka_unit_test(test_empty_segment_at_zero_ignored),
	    cmocka_unit_test(test_bad_magic),
	    cmocka_unit_test(test_class32),
	    cmocka_unit_test(test_big_endian),
	    cmocka_unit_test(test_bad_version),
	    cmocka_unit_test(test_wrong_machine),
	    cmocka_unit_test(test_type_dyn),
	    cmocka_unit_test(test_type_rel),
	    cmocka_unit_test(test_bad_phentsize),
	    cmocka_unit_test(test_phnum_zero),
	    cmocka_unit_test(test_phnum_too_many),
	    cmocka_unit_test(test_phdrs_beyond_file),
	    cmocka_unit_test(test_phoff_overflow),
	    cmocka_unit_test(test_filesz_gt_memsz),
	    cmocka_unit_test(test_segment_truncated),
	    cmocka_unit_test(test_offset_filesz_overflow),
	    cmocka_unit_test(test_vaddr_memsz_overflow),
	    cmocka_unit_test(test_segment_in_reserved_low_pages),
	    cmocka_unit_test(test_segment_at_zero),
	    cmocka_unit_test(test_segment_beyond_memory),
	    cmocka_unit_test(test_segment_far_beyond_memory),
	    cmocka_unit_test(test_entry_outside_segments),
	    cmocka_unit_test(test_entry_zero),
	    cmocka_unit_test(test_entry_in_data_segment),
	    cmocka_unit_test(test_pt_interp),
	    cmocka_unit_test(test_pt_dynamic),
	    cmocka_unit_test(test_no_pt_load),
	    cmocka_unit_test(test_shorter_than_header),
	    cmocka_unit_test(test_failed_load_after_good_segment),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
