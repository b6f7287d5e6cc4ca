/* VM definitions in the state directory: atomic writes, listing, removal. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[64];

/* Entries in STATE/LEAF. */
static int entries(const char *leaf)
{
	char path[128];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, leaf);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

/* A file named leaf in the one spare directory. */
static void plant_in_spare(const char *leaf)
{
	char path[600];
	struct dirent *e;
	DIR *d;
	FILE *f;

	snprintf(path, sizeof(path), "%s/spare", dir);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)) && e->d_name[0] == '.')
		;
	assert_non_null(e);
	snprintf(path, sizeof(path), "%s/spare/%s/%s", dir, e->d_name, leaf);
	closedir(d);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("db's secret\n", f);
	fclose(f);
}

static bool stop_now(void *arg)
{
	(void)arg;
	return true;
}

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/denali-store-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static int collect(const struct vm_spec *spec, void *arg)
{
	char *names = arg;

	strcat(names, spec->name);
	strcat(names, " ");
	return 0;
}

static void test_roundtrip(void **state)
{
	struct ctl_store *st;
	char *argv[] = {"--port", "80", NULL};
	struct vm_spec a = {.name = "web",
			    .image = "/srv/web.elf",
			    .mem_bytes = 32u << 20,
			    .argc = 2,
			    .argv = argv};
	struct vm_spec b = {.name = "db",
			    .image = "/srv/db.elf",
			    .mem_bytes = 16u << 20,
			    .argc = 0,
			    .argv = argv + 2};
	struct vm_spec got;
	char names[256] = "", path[256];
	FILE *f;

	(void)state;
	assert_int_equal(store_open(dir, &st), 0);
	assert_int_equal(store_put(st, &a), 0);
	assert_int_equal(store_put(st, &b), 0);
	assert_true(store_has(st, "web"));
	assert_false(store_has(st, "nope"));

	/* No temporary file is left behind. */
	snprintf(path, sizeof(path), "%s/vms/web/def.json.tmp", dir);
	assert_int_equal(access(path, F_OK), -1);

	assert_int_equal(store_get(st, "web", &got), 0);
	assert_string_equal(got.image, "/srv/web.elf");
	assert_true(got.mem_bytes == 32u << 20);
	assert_int_equal(got.argc, 2);
	assert_string_equal(got.argv[1], "80");
	assert_null(got.argv[2]);
	store_spec_free(&got);

	assert_int_equal(store_foreach(st, collect, names), 2);
	assert_string_equal(names, "db web ");

	/* A damaged definition is skipped, not fatal. */
	snprintf(path, sizeof(path), "%s/vms/broken", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/vms/broken/def.json", dir);
	f = fopen(path, "w");
	fputs("{\"name\": \"broken\", \"image\": 3", f);
	fclose(f);
	names[0] = '\0';
	assert_int_equal(store_foreach(st, collect, names), 2);

	/* The console log stays when the definition goes. */
	snprintf(path, sizeof(path), "%s/vms/web/console.log", dir);
	f = fopen(path, "w");
	fputs("hello\n", f);
	fclose(f);
	assert_int_equal(store_del(st, "web"), 0);
	assert_false(store_has(st, "web"));
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(store_del(st, "web"), -ENOENT);
	assert_int_equal(store_del(st, "db"), 0);
	snprintf(path, sizeof(path), "%s/vms/db", dir);
	assert_int_equal(access(path, F_OK), -1); /* empty directory removed */
	/* Removed by renames: web's definition into the trash (its log stays), which empties
	 * later; db's directory, which held nothing else, kept as a spare. */
	assert_int_equal(entries("trash"), 1);
	assert_int_equal(entries("spare"), 1);
	assert_int_equal(store_trash_empty(st, stop_now, NULL), 0);
	assert_int_equal(entries("trash"), 1);
	assert_int_equal(store_trash_empty(st, NULL, NULL), 1);
	assert_int_equal(entries("trash"), 0);
	snprintf(path, sizeof(path), "%s/vms/web/console.log", dir);
	assert_int_equal(access(path, F_OK), 0); /* the log is never in the trash */

	/* A new VM gets the spare directory, with its own definition and nothing of db's
	 * (not even a console log that got in there). */
	plant_in_spare("console.log");
	assert_int_equal(store_put(st, &(struct vm_spec){.name = "cache",
							 .image = "/srv/cache.elf",
							 .mem_bytes = 2u << 20,
							 .argv = argv + 2}),
			 0);
	assert_int_equal(entries("spare"), 0);
	assert_int_equal(store_get(st, "cache", &got), 0);
	assert_string_equal(got.image, "/srv/cache.elf");
	assert_int_equal(got.argc, 0);
	store_spec_free(&got);
	snprintf(path, sizeof(path), "%s/vms/cache/console.log", dir);
	assert_int_equal(access(path, F_OK), -1);
	/* A VM whose directory is there (its log kept) is written in place, as before. */
	assert_int_equal(store_put(st, &a), 0);
	assert_int_equal(store_get(st, "web", &got), 0);
	store_spec_free(&got);
	assert_int_equal(store_del(st, "cache"), 0);
	assert_int_equal(entries("spare"), 1);
	names[0] = '\0';
	assert_int_equal(store_foreach(st, collect, names), 1);
	assert_string_equal(names, "web ");

	assert_int_equal(store_put(st, &(struct vm_spec){.name = "../x", .argv = argv + 2}),
			 -EINVAL);
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
