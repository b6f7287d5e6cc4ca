/* VM definitions kept in the state directory so they boot again after a daemon restart.
 * One file per VM: STATE/vms/NAME/def.json = {"name", "id", "image", "mem", "args"}, written to a
 * temporary file, fsync'd and renamed, so a crash leaves either the old or the new file. */
#ifndef DENALI_CTL_STORE_H
#define DENALI_CTL_STORE_H

#include "backend.h"

#include <stdbool.h>

struct ctl_store;

/* Opens (creating STATE/vms if needed) the store under state_dir. 0 or -errno. */
int store_open(const char *state_dir, struct ctl_store **out);
void store_close(struct ctl_store *st);

/* Locks the state directory for this process (STATE/lock, flock, holding our pid) for as
 * long as the store is open. -EBUSY if another process holds it; *holder is then its pid as
 * it wrote it (0 if unknown). 0 or -errno. */
int store_lock(struct ctl_store *st, long *holder);

/* Takes n fresh VM ids, never handed out before in this state directory (STATE/next-id,
 * made durable before they are returned; raised past every stored definition's id). */
int store_ids_take(struct ctl_store *st, unsigned n, uint64_t *first);

/* While a batch is open (begin/end nest), store_put, store_del and store_ids_take skip their
 * fsyncs; the owner of each batch makes its work durable with store_sync() (one syncfs(2)),
 * which may run on another thread, since it only reads the store's path. */
void store_batch_begin(struct ctl_store *st);
void store_batch_end(struct ctl_store *st);
/* True while any batch is open. */
bool store_batch_active(const struct ctl_store *st);
int store_sync(const struct ctl_store *st);

/* Writes the definition of spec->name atomically, replacing any older one. 0 or -errno. */
int store_put(struct ctl_store *st, const struct vm_spec *spec);

/* Removes the definition of name; other files in its directory (console.log) are left alone,
 * and the directory goes only when it is empty. 0, -ENOENT if there was none, or -errno.
 * Removed means renamed into STATE/trash (one rename; an unlink may wait for the disk), which
 * store_trash_empty() empties later. */
int store_del(struct ctl_store *st, const char *name);

/* Deletes what store_del() put in the trash, until stop(arg) says to stop (NULL: all of it).
 * Returns the number of entries removed. */
int store_trash_empty(struct ctl_store *st, bool (*stop)(void *), void *arg);

/* 1 if a definition of name is stored, 0 if not. */
int store_has(struct ctl_store *st, const char *name);

/* Calls fn for each valid stored definition, in name order; an unreadable or invalid one is
 * logged and skipped (left on disk for a human). Stops at and returns the first negative value
 * fn returns; otherwise returns the number of definitions visited, or -errno. */
int store_foreach(struct ctl_store *st, int (*fn)(const struct vm_spec *spec, void *arg),
		  void *arg);

/* Names of every stored definition (new reference, array of strings, sorted); directories are
 * listed, not parsed. NULL on failure. */
json_t *store_names(struct ctl_store *st);

/* Reads one definition into spec (argv malloc'd: free with store_spec_free). 0 or -errno. */
int store_get(struct ctl_store *st, const char *name, struct vm_spec *spec);
void store_spec_free(struct vm_spec *spec);

#endif
