/* Inside the store: what store.c and store_trash.c share. Not for other files. */
#ifndef DENALI_CTL_STORE_IMPL_H
#define DENALI_CTL_STORE_IMPL_H

#include "store.h"

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_SPARE_MAX	 4096 /* spare VM directories kept for reuse (2 inodes each) */
#define STORE_SPARE_NAME 48

struct ctl_store {
	char dir[PATH_MAX - 256]; /* STATE/vms; leaves room for NAME/def.json.tmp */
	char state[PATH_MAX - 256];
	char trash[PATH_MAX - 256]; /* STATE/trash: removed definitions, "" = remove in place */
	char spare[PATH_MAX - 256]; /* STATE/spare: clean VM directories to reuse, "" = none */
	int lock_fd;
	uint64_t next_id;	    /* 0 = not read yet */
	uint64_t max_seen;	    /* highest id in a definition read */
	int batch;		    /* in store_batch_begin/end: no fsyncs */
	pthread_mutex_t spare_lock; /* the job writers put and remove side by side */
	char (*spares)[STORE_SPARE_NAME];
	unsigned nspares;
};

int batch_open(const struct ctl_store *st);
int fsync_dir(const char *path);
int write_all(int fd, const char *p, size_t n);

/* store_trash.c: STATE/trash and STATE/spare made (or not: removals then happen in place)
 * and the spares left by an earlier run listed; freed at close. */
void store_trash_open(struct ctl_store *st);
void store_trash_close(struct ctl_store *st);
/* Moves a definition out of STATE/vms with one rename (store_del()). 0, or -errno with
 * nothing moved (-ENOENT: there is none). */
int store_trash_move(struct ctl_store *st, const char *vmdir, const char *path);
/* A spare directory holding text as def.json, renamed to vmdir, which must not exist.
 * 0, or -errno with vmdir untouched. */
int store_spare_take(struct ctl_store *st, const char *vmdir, const char *text);

#endif
