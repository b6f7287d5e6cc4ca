/* denalid run --suspend-after (each VM written to a snapshot and resumed in a fresh shell)
 * and --swap's idle hook. */
#include "run_impl.h"

#include "../vmm/shell.h"
#include "../vmm/snapshot.h"
#include "../vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A snapshot file for --suspend-after, created and unlinked here, on the
 * main thread: a worker's seccomp allowlist has no call that opens a file. */
int run_open_snapshot(struct run_vm *rv)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/denali-snap-XXXXXX",
		 run_ctx.snapshot_dir ? run_ctx.snapshot_dir : "/tmp");
	rv->snap_fd = mkstemp(path);
	if (rv->snap_fd < 0) {
		fprintf(stderr, "denalid run: vm %s: cannot create %s: %s\n", rv->task.vm->name,
			path, strerror(errno));
		return -1;
	}
	unlink(path);
	return 0;
}

/*
 * --suspend-after: write the VM to a snapshot file, drop its memory and
 * shell, read it back and bind it to a shell no VM has used, so that the
 * rest of its run proves the image is self-contained.
 */
int run_suspend_resume(struct task *t, void *arg)
{
	struct run_vm *rv = (struct run_vm *)t;
	struct vm *vm = t->vm;
	struct shell *old = vm->shell, *fresh = NULL;
	char err[256];
	int fd, rc;

	(void)arg;
	if (++rv->idles != run_ctx.suspend_after)
		return 0;
	fd = rv->snap_fd;
	rv->snap_fd = -1;
	if (fd < 0) {
		vm_kill(vm, "suspend: no snapshot file");
		return -1;
	}
	rc = shell_create(&fresh);
	if (rc) {
		snprintf(err, sizeof(err), "no fresh shell: %s", strerror(-rc));
		goto fail;
	}
	rc = snapshot_save(vm, fd, err, sizeof(err)); /* releases memory and shell */
	if (rc)
		goto fail;
	shell_put(old);
	if (lseek(fd, 0, SEEK_SET) != 0) {
		snprintf(err, sizeof(err), "rewinding the snapshot: %s", strerror(errno));
		goto fail;
	}
	rc = snapshot_load(fd, vm, NULL, err, sizeof(err));
	if (rc)
		goto fail;
	rc = vm_bind(vm, fresh);
	if (rc) {
		snprintf(err, sizeof(err), "binding: %s", strerror(-rc));
		goto fail;
	}
	close(fd);
	fprintf(stderr, "vm %s: suspended after idle %u and resumed in a fresh shell\n", vm->name,
		rv->idles);
	return 0;
fail:
	close(fd);
	if (fresh)
		shell_destroy(fresh);
	vm_kill(vm, "suspend/resume: %s", err);
	return -1;
}

int run_swap_idle(struct task *t, void *arg)
{
	(void)arg;
	return swapper_idle(run_ctx.swapper, t);
}
