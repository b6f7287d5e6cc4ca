/*
 * rofs against corrupt, truncated and hostile images: every bit flip of the
 * metadata, every truncation, and hand-made images whose checksums are
 * correct but whose fields lie. Each must give an error at mount (or, for
 * file data, at verify) and never an out-of-bounds access: this test is
 * built with ASan and UBSan.
 */
#include "rofs_build.h"
#include "rofs_mem.h"

#include <stdio.h>
#include <stdlib.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static uint8_t *ref; /* the reference image */
static size_t ref_len;
static uint8_t *work; /* a copy to damage */
static struct rofs fs;

static const char *const ref_files[] = {"a.txt", "dir/b.bin", "dir/c", "z"};
static uint8_t ref_data[3][1300];

static int setup(void **state)
{
	(void)state;
	struct rofs_build b;

	for (int i = 0; i < 3; i++)
		for (size_t j = 0; j < sizeof(ref_data[i]); j++)
			ref_data[i][j] = (uint8_t)(i * 77 + j * 13);
	rofs_build_init(&b);
	if (rofs_build_add_mem(&b, "a.txt", ref_data[0], 700, 11) ||
	    rofs_build_add_dir(&b, "dir", 12) ||
	    rofs_build_add_mem(&b, "dir/b.bin", ref_data[1], 1300, 13) ||
	    rofs_build_add_mem(&b, "dir/c", ref_data[2], 512, 14) ||
	    rofs_build_add_mem(&b, "z", NULL, 0, 15) || rofs_build_write_mem(&b, &ref, &ref_len))
		return -1;
	rofs_build_free(&b);
	work = malloc(ref_len);
	return work ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(ref);
	free(work);
	return 0;
}

static int mount_work(size_t len)
{
	static struct mem_dev dev; /* the mount keeps a pointer to it */
	dev = (struct mem_dev){work, len, -1, 0};
	return rofs_mount(&fs, mem_dev_read, &dev, mem_dev_sectors(&dev));
}

static struct rofs_super *work_sb(void)
{
	return (struct rofs_super *)work;
}

static struct rofs_dirent *work_entry(uint32_t i)
{
	return (struct rofs_dirent *)(work + work_sb()->table_sector * ROFS_SECTOR) + i;
}

static char *work_names(void)
{
	return (char *)work + work_sb()->names_sector * ROFS_SECTOR;
}

static void reset(void)
{
	memcpy(work, ref, ref_len);
}

static void test_reference_mounts(void **state)
{
	(void)state;
	struct rofs_stat st;
	reset();
	assert_int_equal(mount_work(ref_len), 0);
	assert_int_equal(rofs_count(&fs), 5);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(rofs_lookup(&fs, ref_files[i], strlen(ref_files[i]), &st), 0);
		assert_int_equal(rofs_verify(&fs, &st), 0);
	}
	/* resealing an unchanged image changes nothing */
	rofs_reseal(work, ref_len);
	assert_memory_equal(work, ref, ref_len);
}

/* Every bit of sector 0 and of the table and names: no flip goes unnoticed. */
static void test_every_metadata_bit_flip(void **state)
{
	(void)state;
	struct rofs_super sb;
	memcpy(&sb, ref, sizeof(sb));
	size_t meta_end = sb.data_sector * ROFS_SECTOR;
	unsigned flips = 0;

	assert_int_equal(sb.data_sector, 3); /* sector 0, one of table, one of names */

	for (size_t off = 0; off < meta_end; off++) {
		for (int bit = 0; bit < 8; bit++) {
			reset();
			work[off] ^= (uint8_t)(1u << bit);
			int rc = mount_work(ref_len);
			if (off < sizeof(struct rofs_super))
				assert_true(rc == -EBADMSG || rc == -EINVAL);
			else if (off < ROFS_SECTOR)
				assert_int_equal(rc, -EINVAL); /* sector 0 after the superblock */
			else
				assert_int_equal(rc, -EBADMSG); /* table, names, their padding */
			flips++;
		}
	}
	assert_true(flips >= 8 * 3 * ROFS_SECTOR);
}

/* A flipped data byte mounts (data is checked lazily) but fails rofs_verify. */
static void test_data_flip_fails_verify(void **state)
{
	(void)state;
	struct rofs_stat st;

	for (size_t f = 0; f < 3; f++) {
		reset();
		assert_int_equal(mount_work(ref_len), 0);
		assert_int_equal(rofs_lookup(&fs, ref_files[f], strlen(ref_files[f]), &st), 0);
		for (uint64_t off = 0; off < st.size; off += 97) {
			reset();
			work[st.data_sector * ROFS_SECTOR + off] ^= 0x20;
			assert_int_equal(mount_work(ref_len), 0);
			struct rofs_stat st2;
			assert_int_equal(rofs_lookup(&fs, ref_files[f], strlen(ref_files[f]), &st2),
					 0);
			assert_int_equal(rofs_verify(&fs, &st2), -EBADMSG);
			for (size_t g = 0; g < 3; g++) {
				if (g == f)
					continue;
				assert_int_equal(
				    rofs_lookup(&fs, ref_files[g], strlen(ref_files[g]), &st2), 0);
				assert_int_equal(rofs_verify(&fs, &st2), 0);
			}
		}
	}
}

static void test_every_truncation(void **state)
{
	(void)state;
	reset();
	for (size_t len = 0; len < ref_len; len += ROFS_SECTOR / 4)
		assert_true(mount_work(len) < 0);
	assert_int_equal(mount_work(ref_len), 0);
}

/* ---- lies with correct checksums ------------------------------------------ */

typedef void (*edit_fn)(void);

#define EDIT(name, body)                                                                           \
	static void name(void)                                                                     \
	{                                                                                          \
		body;                                                                              \
	}

EDIT(name_off_past, work_entry(0)->name_off = work_sb()->names_bytes)
EDIT(name_off_huge, work_entry(1)->name_off = UINT32_MAX)
EDIT(name_len_zero, work_entry(1)->name_len = 0)
EDIT(name_len_256, work_entry(1)->name_len = 256)
EDIT(name_len_max, work_entry(4)->name_len = UINT16_MAX)
EDIT(name_len_past, work_entry(4)->name_len = 2)
EDIT(type_zero, work_entry(0)->type = 0)
EDIT(type_three, work_entry(2)->type = 3)
EDIT(dir_with_size, work_entry(1)->size = 1)
EDIT(dir_with_data, work_entry(1)->data_sector = work_sb()->data_sector)
EDIT(file_in_super, work_entry(0)->data_sector = 0)
EDIT(file_in_table, work_entry(0)->data_sector = work_sb()->table_sector)
EDIT(file_at_end, work_entry(0)->data_sector = work_sb()->total_sectors)
EDIT(file_size_huge, work_entry(0)->size = UINT64_MAX)
EDIT(file_size_past, work_entry(3)->size = 513)
EDIT(file_sector_wrap, work_entry(2)->data_sector = UINT64_MAX - 1)
EDIT(empty_with_sector, work_entry(4)->data_sector = work_sb()->data_sector)
EDIT(unsorted, {
	struct rofs_dirent t = *work_entry(0);
	*work_entry(0) = *work_entry(4);
	*work_entry(4) = t;
})
EDIT(duplicate, {
	work_entry(3)->name_off = work_entry(2)->name_off;
	work_entry(3)->name_len = work_entry(2)->name_len;
})
EDIT(name_dotdot, memcpy(work_names() + work_entry(3)->name_off, "../cc", 5))
EDIT(name_slash, work_names()[work_entry(0)->name_off] = '/')
EDIT(name_nul, work_names()[work_entry(0)->name_off + 1] = '\0')
EDIT(name_trailing_slash, work_names()[work_entry(4)->name_off] = '/')
EDIT(count_plus_one, work_sb()->entry_count++)
EDIT(count_huge, work_sb()->entry_count = ROFS_ENTRIES_MAX + 1)
EDIT(count_max, work_sb()->entry_count = UINT32_MAX)
EDIT(names_plus_one, work_sb()->names_bytes++)
EDIT(names_huge, work_sb()->names_bytes = UINT32_MAX)
EDIT(table_at_zero, work_sb()->table_sector = 0)
EDIT(table_at_two, work_sb()->table_sector = 2)
EDIT(names_moved, work_sb()->names_sector++)
EDIT(data_moved_down, work_sb()->data_sector--)
EDIT(data_moved_up, work_sb()->data_sector++)
EDIT(total_past_device, work_sb()->total_sectors++)
EDIT(total_below_data, work_sb()->total_sectors = work_sb()->data_sector - 1)
EDIT(total_huge, work_sb()->total_sectors = UINT64_MAX)
EDIT(version_two, work_sb()->version = 2)
EDIT(sector_4096, work_sb()->sector_size = 4096)
EDIT(flags_set, work_sb()->flags = 1)
EDIT(magic_changed, work_sb()->magic[0] = 'X')

static const struct {
	const char *name;
	edit_fn edit;
} lies[] = {
#define L(n)                                                                                       \
	{                                                                                          \
#n, n                                                                              \
	}
    L(name_off_past),	  L(name_off_huge),	L(name_len_zero),	L(name_len_256),
    L(name_len_max),	  L(name_len_past),	L(type_zero),		L(type_three),
    L(dir_with_size),	  L(dir_with_data),	L(file_in_super),	L(file_in_table),
    L(file_at_end),	  L(file_size_huge),	L(file_size_past),	L(file_sector_wrap),
    L(empty_with_sector), L(unsorted),		L(duplicate),		L(name_dotdot),
    L(name_slash),	  L(name_nul),		L(name_trailing_slash), L(count_plus_one),
    L(count_huge),	  L(count_max),		L(names_plus_one),	L(names_huge),
    L(table_at_zero),	  L(table_at_two),	L(names_moved),		L(data_moved_down),
    L(data_moved_up),	  L(total_past_device), L(total_below_data),	L(total_huge),
    L(version_two),	  L(sector_4096),	L(flags_set),		L(magic_changed),
#undef L
};

static void test_resealed_lies(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(lies) / sizeof(*lies); i++) {
		reset();
		lies[i].edit();
		rofs_reseal(work, ref_len);
		int rc = mount_work(ref_len);
		if (rc != -EINVAL)
			fail_msg("%s: mount returned %d, expected -EINVAL", lies[i].name, rc);
	}
}

/*
 * Random edits of the metadata, resealed so that they pass the checksums:
 * whatever mounts must still answer every call within bounds.
 */
static void test_random_resealed_edits(void **state)
{
	(void)state;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	struct rofs_super sb;
	memcpy(&sb, ref, sizeof(sb));
	size_t meta_end = sb.data_sector * ROFS_SECTOR;
	unsigned mounted = 0;

	for (int iter = 0; iter < 20000; iter++) {
		reset();
		int edits = 1 + iter % 4;
		for (int e = 0; e < edits; e++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			size_t off = ROFS_SECTOR + (x >> 16) % (meta_end - ROFS_SECTOR);
			work[off] = (uint8_t)(x >> 8);
		}
		rofs_reseal(work, ref_len);
		if (mount_work(ref_len) != 0)
			continue;
		mounted++;
		for (uint32_t i = 0; i < rofs_count(&fs); i++) {
			struct rofs_stat st;
			char name[ROFS_PATH_MAX + 1];
			uint8_t buf[1400];
			if (rofs_entry(&fs, i, &st, name, sizeof(name)) != 0)
				continue;
			struct rofs_stat st2;
			assert_int_equal(rofs_lookup(&fs, name, strlen(name), &st2), 0);
			assert_int_equal(st2.index, i);
			if (st.type != ROFS_TYPE_FILE)
				continue;
			int64_t n = rofs_pread(&fs, &st, 0, buf, sizeof(buf));
			assert_true(n >= 0 && (uint64_t)n <= st.size && n <= (int64_t)sizeof(buf));
			(void)rofs_verify(&fs, &st);
		}
	}
	/* most edits break the structure, some (names, mtimes) only change it */
	assert_true(mounted > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reference_mounts),
	    cmocka_unit_test(test_every_metadata_bit_flip),
	    cmocka_unit_test(test_data_flip_fails_verify),
	    cmocka_unit_test(test_every_truncation),
	    cmocka_unit_test(test_resealed_lies),
	    cmocka_unit_test(test_random_resealed_edits),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
