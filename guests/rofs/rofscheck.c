/*
 * rofscheck: mount the rofs image on the VM's disk (written by denali-mkfs)
 * through dn_blk_read, list every entry, verify every file's checksum and
 * look up the paths given as arguments.
 *
 *   rofscheck [PATH...]
 *
 * Prints one line per entry ("f SIZE MTIME PATH ok" or "d - MTIME PATH"),
 * one per argument ("lookup PATH: found|missing|error N"), then a summary
 * ("rofscheck: N entries, F files verified, B bytes, cache H/M"). Exit:
 * 0 all verified, 1 no disk or the mount failed, 2 a file failed to verify.
 */
#include <denali/blkdev.h>
#include <denali/libos.h>
#include <denali/rofs.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static struct rofs fs;

static int blk_read(void *ctx, uint64_t sector, void *buf, uint32_t n)
{
	(void)ctx;
	return dn_blk_read(sector, buf, n);
}

int main(int argc, char **argv)
{
	char name[ROFS_PATH_MAX + 1];
	struct rofs_stat st;
	uint64_t bytes = 0;
	uint32_t files = 0, bad = 0;
	uint64_t sectors = dn_blk_sectors();

	if (sectors == 0) {
		printf("rofscheck: no disk\n");
		return 1;
	}
	int rc = rofs_mount(&fs, blk_read, NULL, sectors);
	if (rc < 0) {
		printf("rofscheck: mount failed: %d\n", rc);
		return 1;
	}
	for (uint32_t i = 0; i < rofs_count(&fs); i++) {
		rc = rofs_entry(&fs, i, &st, name, sizeof(name));
		if (rc < 0) {
			printf("rofscheck: entry %u: %d\n", i, rc);
			bad++;
			continue;
		}
		if (st.type == ROFS_TYPE_DIR) {
			printf("d - %lld %s\n", (long long)st.mtime, name);
			continue;
		}
		rc = rofs_verify(&fs, &st);
		printf("f %llu %lld %s %s\n", (unsigned long long)st.size, (long long)st.mtime,
		       name, rc == 0 ? "ok" : "BAD");
		files++;
		bytes += st.size;
		if (rc != 0)
			bad++;
	}
	for (int i = 1; i < argc; i++) {
		rc = rofs_lookup(&fs, argv[i], strlen(argv[i]), &st);
		if (rc == 0)
			printf("lookup %s: found %llu\n", argv[i], (unsigned long long)st.size);
		else if (rc == -ENOENT)
			printf("lookup %s: missing\n", argv[i]);
		else
			printf("lookup %s: error %d\n", argv[i], rc);
	}
	printf("rofscheck: %u entries, %u files verified, %llu bytes, cache %llu/%llu\n",
	       rofs_count(&fs), files - bad, (unsigned long long)bytes,
	       (unsigned long long)fs.counters.cache_hits,
	       (unsigned long long)fs.counters.cache_misses);
	return bad ? 2 : 0;
}
