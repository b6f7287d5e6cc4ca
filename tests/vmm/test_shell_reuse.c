/*
 * Shell reuse with guest page tables crafted by the test (issue 7). A guest
 * cannot reach these states on its own any more (hole 2 closed the page-table
 * writes), so this client builds them host-side, as a page-table write or a
 * monitor bug would, and checks that the next tenant of the shell is not
 * affected:
 *   mmio:  a mapping beyond guest memory makes hostile-mmio die in a
 *          KVM_EXIT_MMIO (KVM holds the read half done); the next tenant of
 *          the shell, entrystate, must start exactly as a fresh VM (hole 1).
 *   alias: hostile-alias "a" gets a user-writable window on its page
 *          directory, rewrites it so that VA 0x400000 maps GPA 0xa00000 and
 *          reads through that alias; tenant "b", bound to the same shell and the same recycled
 *          memory region (no slot update: the serve path), must not read
 *          through a's translation (hole 3), and the shell it binds to must
 *          hold no MMU state of a (reset at bind, or ahead of time by the
 *          reclaimer). Three cycles with shell_put() alone, two with the
 *          reclaimer thread running (which must reset the pooled shell).
 *   filler: a VM with no pooled shell takes one the filler thread made
 *          ahead of time, and starts as a fresh VM.
 *   trim:  shell_pool_trim() gives back only the pooled shells that stayed
 *          pooled since its last call, beyond the number kept, with and
 *          without the reclaimer.
 * Usage: test_shell_reuse GUEST_DIR. Exit 77 without /dev/kvm.
 */
#include "vmm/shell.h"
#include "vmm/vm.h"
#include "vmm/x86.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB	   (1ull << 20)
#define ALIAS_LO   0x400000ull
#define ALIAS_HI   0xa00000ull
#define ALIAS_MARK 0xa11a5a11a5a11a5aull

static const char *guests;
static int fails;
static int bound_dirty; /* the last bind left the previous tenant's MMU state */

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("FAIL: " __VA_ARGS__);                                              \
			printf("\n");                                                              \
			fails++;                                                                   \
		}                                                                                  \
	} while (0)

static uint8_t *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*size = (size_t)n;
	}
	fclose(f);
	return buf;
}

/* Creates a VM of the image guests/NAME with one optional argument. */
static struct vm *create(const char *name, const char *arg, uint64_t id)
{
	char path[4096], err[256];
	char *argv[3] = {(char *)name, (char *)arg, NULL};
	struct vm_config cfg = {.name = name,
				.image = path,
				.mem_size = 16 * MIB,
				.id = id,
				.argc = arg ? 2 : 1,
				.argv = argv};
	struct vm *vm = NULL;
	size_t size = 0;
	uint8_t *elf;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", guests, name);
	elf = read_file(path, &size);
	if (!elf) {
		printf("FAIL: cannot read %s\n", path);
		exit(1);
	}
	cfg.elf = elf;
	cfg.elf_size = size;
	rc = vm_create(&cfg, &vm, err, sizeof(err));
	free(elf);
	if (rc) {
		printf("FAIL: vm_create %s: %s\n", name, err);
		exit(1);
	}
	return vm;
}

/* Maps the 2 MiB page at va to gpa (user, writable) in the VM's tables. */
static void map_2m(struct vm *vm, uint64_t va, uint64_t gpa)
{
	uint64_t pde = gpa | X86_PTE_P | X86_PTE_W | X86_PTE_U | X86_PTE_PS;

	memcpy(vm->mem + X86_PD_GPA + 8 * (va >> 21), &pde, sizeof(pde));
}

/* Binds the VM to a pooled shell (the one whose slot maps its memory if
 * any), runs it to its end, releases the shell to the pool. */
static struct shell *run(struct vm *vm, char *out, size_t cap)
{
	struct shell *sh;
	enum vm_stop stop;
	uint64_t next;
	size_t n;

	if (shell_get_for(vm->mem, vm->mem_size, &sh) || vm_bind(vm, sh)) {
		printf("FAIL: %s: no shell\n", vm->name);
		exit(1);
	}
	bound_dirty = sh->mmu_dirty;
	do {
		stop = vm_run(vm);
		if (stop == VM_STOP_IDLE)
			vm_wake(vm, DENALI_EV_TIMER);
	} while (stop == VM_STOP_IDLE || stop == VM_STOP_PREEMPT);
	n = console_read(&vm->console, 0, out, cap - 1, &next);
	out[n] = 0;
	vm_unbind(vm);
	shell_put(sh);
	return sh;
}

static void test_mmio(void)
{
	char out[4096];
	struct vm *a = create("hostile-mmio", NULL, 1), *b;
	struct shell *sh_a, *sh_b;

	/* hostile-mmio reads mem_size + 0x10000: give that address a mapping,
	 * so the read leaves the slot (an MMIO exit), not the page tables. */
	map_2m(a, a->mem_size, a->mem_size);
	sh_a = run(a, out, sizeof(out));
	CHECK(a->status == VM_KILLED && strstr(a->reason, "MMIO read at 0x1010000"),
	      "mmio: hostile-mmio: status %s, reason '%s'", vm_status_name(a->status), a->reason);
	vm_destroy(a);
	b = create("entrystate", NULL, 2);
	sh_b = run(b, out, sizeof(out));
	CHECK(sh_a == sh_b, "mmio: the reader did not get the dead VM's shell");
	CHECK(b->status == VM_EXITED && b->exit_code == 0 && strstr(out, "entry: clean"),
	      "mmio: the next tenant: status %s (%s), console: %s", vm_status_name(b->status),
	      b->reason, out);
	printf("mmio: %s", out);
	vm_destroy(b);
}

/* With the reclaimer: a shell pooled dirty is reset ahead of time (hang guard 10 s). */
static int wait_reset(struct shell *sh)
{
	for (int i = 0; i < 1000; i++) {
		/* Reset, and back in the pool: the reclaimer clears mmu_dirty while the
		 * shell is out of the pool, and only then pools it again. */
		if (!__atomic_load_n(&sh->mmu_dirty, __ATOMIC_ACQUIRE) &&
		    shell_reclaimer_pending() == 0)
			return 1;
		usleep(10000);
	}
	return 0;
}

static void test_alias(int cycle, int reclaimer)
{
	char out[4096];
	struct vm *a, *b;
	uint64_t mark = ALIAS_MARK, pte;
	struct shell *sh_a, *sh_b;
	uint8_t *mem_a;

	/* Only a's shell in the pool: the shell of an earlier cycle maps the same
	 * recycled memory, and once the reclaimer has reset and re-pooled it, it
	 * would come first. */
	shell_pool_drain();
	a = create("hostile-alias", "a", 10 + 2 * (uint64_t)cycle);
	mem_a = a->mem;

	/* PT0 entry for VA 0x1ff000: the page directory, user-writable. */
	pte = X86_PD_GPA | X86_PTE_P | X86_PTE_W | X86_PTE_U;
	memcpy(a->mem + X86_PT0_GPA + 8 * (0x1ff000 >> 12), &pte, sizeof(pte));
	memcpy(a->mem + ALIAS_HI, &mark, sizeof(mark));
	sh_a = run(a, out, sizeof(out));
	CHECK(a->status == VM_EXITED && a->exit_code == 0,
	      "alias %d: tenant a did not read through its alias: %s %s", cycle, a->reason, out);
	if (reclaimer)
		CHECK(wait_reset(sh_a), "alias %d: the reclaimer did not reset the pooled shell",
		      cycle);
	vm_destroy(a);
	b = create("hostile-alias", "b", 11 + 2 * (uint64_t)cycle);
	sh_b = run(b, out, sizeof(out));
	CHECK(sh_a == sh_b && b->mem == mem_a,
	      "alias %d: precondition: b did not get a's shell (%d) and recycled memory (%d)",
	      cycle, sh_a == sh_b, b->mem == mem_a);
	CHECK(!bound_dirty, "alias %d: b was bound to a shell still holding a's MMU state", cycle);
	CHECK(b->status == VM_EXITED && b->exit_code == 0,
	      "alias %d: tenant b: status %s (%s), console: %s", cycle, vm_status_name(b->status),
	      b->reason, out);
	printf("alias %d: %s", cycle, out);
	vm_destroy(b);
}

/* Shells made ahead of time by the filler thread: a VM with no pooled shell to reuse gets
 * one of them (a new KVM VM nobody ran in), starts exactly as a fresh VM, and the filler
 * makes another; stopping it destroys the ones left (hang guard 10 s). */
static void test_filler(void)
{
	char out[4096];
	uint64_t made0, taken0, made, taken;
	struct vm *v;
	int i;

	shell_pool_drain(); /* nothing pooled: the next shell comes from the filler */
	shell_filler_totals(&made0, &taken0);
	if (shell_filler_start(3, NULL)) {
		printf("FAIL: shell_filler_start\n");
		fails++;
		return;
	}
	for (i = 0; i < 1000 && shell_filler_count() < 3; i++)
		usleep(10000);
	CHECK(shell_filler_count() == 3, "filler: %u shells made ahead, not 3",
	      shell_filler_count());
	v = create("entrystate", NULL, 40);
	run(v, out, sizeof(out));
	shell_filler_totals(&made, &taken);
	CHECK(taken == taken0 + 1, "filler: the VM did not take a shell made ahead (%llu taken)",
	      (unsigned long long)(taken - taken0));
	CHECK(v->status == VM_EXITED && v->exit_code == 0 && strstr(out, "entry: clean"),
	      "filler: status %s (%s), console: %s", vm_status_name(v->status), v->reason, out);
	printf("filler: %s", out);
	vm_destroy(v);
	for (i = 0; i < 1000 && shell_filler_count() < 3; i++)
		usleep(10000);
	shell_filler_totals(&made, &taken);
	CHECK(made == made0 + 4, "filler: %llu shells made, not 4",
	      (unsigned long long)(made - made0));
	shell_filler_stop();
	CHECK(shell_filler_count() == 0, "filler: %u shells left after stop", shell_filler_count());
}

/* shell_pool_trim(): what stayed pooled since the last call, beyond keep, goes. */
static void test_trim(int reclaimer)
{
	struct shell *sh[3];
	unsigned n;

	shell_pool_drain();
	if (reclaimer && shell_reclaimer_start(NULL)) {
		printf("FAIL: shell_reclaimer_start\n");
		fails++;
		return;
	}
	CHECK(shell_pool_fill(8) == 0, "trim: shell_pool_fill(8)");
	/* The pool was empty at the drain: nothing stayed pooled through a whole period. */
	n = shell_pool_trim(2);
	CHECK(n == 0 && shell_pool_size() == 8, "trim: first call gave back %u, pool %u", n,
	      shell_pool_size());
	/* Three taken and put back: the pool went down to 5, so 5 - 2 stayed unused. */
	for (int i = 0; i < 3; i++)
		CHECK(shell_get(&sh[i]) == 0, "trim: shell_get");
	for (int i = 0; i < 3; i++)
		shell_put(sh[i]);
	n = shell_pool_trim(2);
	CHECK(n == 3 && shell_pool_size() == 5, "trim: gave back %u (not 3), pool %u (not 5)", n,
	      shell_pool_size());
	n = shell_pool_trim(2);
	CHECK(n == 3 && shell_pool_size() == 2, "trim: gave back %u (not 3), pool %u (not 2)", n,
	      shell_pool_size());
	n = shell_pool_trim(2);
	CHECK(n == 0 && shell_pool_size() == 2, "trim: at keep, gave back %u, pool %u", n,
	      shell_pool_size());
	if (reclaimer) {
		shell_reclaimer_wait();
		CHECK(shell_reclaimer_pending() <= 1, "trim: reclaimer still holds %u",
		      shell_reclaimer_pending());
		shell_reclaimer_stop();
	}
	shell_pool_drain();
	CHECK(shell_pool_trim(0) == 0 && shell_pool_size() == 0, "trim: after drain");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s GUEST_DIR\n", argv[0]);
		return 2;
	}
	guests = argv[1];
	if (access("/dev/kvm", R_OK | W_OK)) {
		printf("SKIP: /dev/kvm is missing or not accessible; this test boots real VMs\n");
		return 77;
	}
	if (kvm_open())
		return 1;
	setvbuf(stdout, NULL, _IONBF, 0);
	test_mmio();
	for (int i = 0; i < 3; i++)
		test_alias(i, 0);
	if (shell_reclaimer_start(NULL)) {
		printf("FAIL: shell_reclaimer_start\n");
		return 1;
	}
	for (int i = 3; i < 5; i++)
		test_alias(i, 1);
	shell_reclaimer_stop();
	test_filler();
	test_trim(0);
	test_trim(1);
	shell_pool_drain();
	printf("%d failed\n", fails);
	return fails ? 1 : 0;
}
