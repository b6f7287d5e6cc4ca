/*
 * VM state: creation from an ELF image, binding to shells, events.
 */
#include "vm.h"

#include "elf.h"
#include "gpa.h"
#include "guest_mem.h"
#include "shell.h"
#include "slab.h"
#include "x86.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

uint64_t vm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Every struct vm, packed apart from the heap (slab.h): a swapped VM keeps it. */
static struct slab vm_slab = SLAB_INIT(sizeof(struct vm));

struct vm *vm_alloc(void)
{
	return slab_zalloc(&vm_slab);
}

void vm_free(struct vm *vm)
{
	slab_free(&vm_slab, vm);
}

const char *vm_status_name(enum vm_status s)
{
	static const char *const names[] = {
	    [VM_RUNNABLE] = "runnable", [VM_RUNNING] = "running", [VM_IDLE] = "idle",
	    [VM_EXITED] = "exited",	[VM_KILLED] = "killed",
	};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static int fill_args(struct denali_vregs *vr, int argc, char *const *argv, char *err, size_t errlen)
{
	size_t off = 0;

	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]) + 1;

		if (n > DENALI_ARGS_MAX - off) {
			snprintf(err, errlen, "arguments exceed %u bytes", DENALI_ARGS_MAX);
			return -EINVAL;
		}
		memcpy(vr->args + off, argv[i], n);
		off += n;
	}
	vr->argc = (uint32_t)argc;
	vr->args_len = (uint32_t)off;
	return 0;
}

void vm_set_clock_rate(struct vm *vm)
{
	uint64_t hz = kvm_tsc_hz();

	vm->tsc_mult = hz ? (uint64_t)(((unsigned __int128)1000000000ull << 32) / hz) : 0;
	if (!vm->vregs)
		return; /* a VM made in its swap slot: its vregs are there */
	vm->vregs->tsc_hz = hz;
	vm->vregs->tsc_mult = vm->tsc_mult;
}

static int fill_vregs(struct vm *vm)
{
	struct denali_vregs *vr = vm->vregs;

	vr->magic = DENALI_VREGS_MAGIC;
	vr->abi_version = DENALI_ABI_VERSION;
	vr->vm_id = vm->id;
	vr->mem_size = vm->mem_size;
	vm_set_clock_rate(vm);
	/* MAC and addresses stay 0 (no NIC) until vm_set_net(). */
	/* The guest keys its own secrets (TCP ISNs) from this: never reused. */
	if (getrandom(vr->secret, sizeof(vr->secret), 0) != (ssize_t)sizeof(vr->secret))
		return -errno;
	return 0;
}

int vm_create(const struct vm_config *cfg, struct vm **out, char *err, size_t errlen)
{
	struct vm *vm;
	uint64_t entry;
	int rc;

	if (!denali_mem_size_ok(cfg->mem_size)) {
		snprintf(err, errlen, "memory size %lu: it must be " DENALI_MEM_RULE,
			 cfg->mem_size);
		return -EINVAL;
	}
	if (!cfg->name || !*cfg->name || strlen(cfg->name) >= sizeof(vm->name)) {
		snprintf(err, errlen, "VM name must be 1..%zu characters", sizeof(vm->name) - 1);
		return -EINVAL;
	}
	rc = elf_check(cfg->elf, cfg->elf_size, cfg->mem_size, &entry, err, errlen);
	if (rc)
		return rc;
	vm = vm_alloc();
	if (!vm)
		return -ENOMEM;
	vm->state = malloc(sizeof(*vm->state));
	if (!vm->state) {
		vm_free(vm);
		return -ENOMEM;
	}
	snprintf(vm->name, sizeof(vm->name), "%s", cfg->name);
	vm->id = cfg->id;
	vm->mem_size = cfg->mem_size;
	vm_init_devices(vm);
	rc = guest_mem_alloc(vm->mem_size, &vm->mem);
	if (rc) {
		snprintf(err, errlen, "mmap %lu bytes of guest memory: %s", vm->mem_size,
			 strerror(-rc));
		vm->mem = NULL;
		goto fail;
	}
	vm->vregs = (struct denali_vregs *)(vm->mem + DENALI_VREGS_GPA);
	vm->shared = (struct denali_shared *)(vm->mem + DENALI_SHARED_GPA);
	rc = x86_build_tables(vm->mem, vm->mem_size);
	if (rc) {
		snprintf(err, errlen, "page tables: %s", strerror(-rc));
		goto fail;
	}
	rc = elf_load(cfg->elf, cfg->elf_size, vm->mem, vm->mem_size, &entry, err, errlen);
	if (rc)
		goto fail;
	rc = fill_vregs(vm);
	if (rc) {
		snprintf(err, errlen, "getrandom for the VM secret: %s", strerror(-rc));
		goto fail;
	}
	rc = fill_args(vm->vregs, cfg->argc, cfg->argv, err, errlen);
	if (rc)
		goto fail;
	vcpu_state_init(vm->state, entry, vm->mem_size);
	vm->need_load = 1;
	vm->status = VM_RUNNABLE;
	vm->deadline_ns = DENALI_NO_DEADLINE;
	vm->created_ns = vm_now_ns();
	*out = vm;
	return 0;
fail:
	vm_destroy(vm);
	return rc;
}

int vm_create_swapped(const struct vm_config *cfg, struct vm **out, char *err, size_t errlen)
{
	struct vm *vm;

	if (!denali_mem_size_ok(cfg->mem_size)) {
		snprintf(err, errlen, "memory size %lu: it must be " DENALI_MEM_RULE,
			 cfg->mem_size);
		return -EINVAL;
	}
	if (!cfg->name || !*cfg->name || strlen(cfg->name) >= sizeof(vm->name)) {
		snprintf(err, errlen, "VM name must be 1..%zu characters", sizeof(vm->name) - 1);
		return -EINVAL;
	}
	vm = vm_alloc();
	if (!vm)
		return -ENOMEM;
	snprintf(vm->name, sizeof(vm->name), "%s", cfg->name);
	vm->id = cfg->id;
	vm->mem_size = cfg->mem_size;
	vm_init_devices(vm);
	vm_set_clock_rate(vm);
	vm->status = VM_IDLE; /* what its slot says is read when it comes in */
	vm->deadline_ns = DENALI_NO_DEADLINE;
	vm->created_ns = vm_now_ns();
	*out = vm;
	return 0;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	if (vm->shell)
		vm_unbind(vm);
	vm_quiesce_devices(vm);
	guest_mem_free(vm->mem, vm->mem_size);
	for (unsigned i = 1; i < vm->ndev; i++)
		if (vm->dev[i]->ops->free)
			vm->dev[i]->ops->free(vm->dev[i]);
	console_free(&vm->console);
	free(vm->state);
	vm_free(vm);
}

void vm_set_net(struct vm *vm, const uint8_t mac[6], uint32_t addr, uint32_t mask, uint32_t gw)
{
	if (!vm->vregs)
		return; /* swapped: the values are in its slot */
	memcpy(vm->vregs->mac, mac, 6);
	vm->vregs->mtu = 1500;
	vm->vregs->ipv4_addr = addr;
	vm->vregs->ipv4_netmask = mask;
	vm->vregs->ipv4_gateway = gw;
}

void vm_set_blk(struct vm *vm, uint64_t sectors, uint32_t flags)
{
	if (!vm->vregs)
		return;
	vm->vregs->blk_sectors = sectors;
	vm->vregs->blk_flags = flags;
}

void vm_init_devices(struct vm *vm)
{
	console_init(&vm->console, NULL, NULL);
	vm->dev[0] = &vm->console.dev;
	vm->ndev = 1;
}

int vm_add_device(struct vm *vm, struct device *d)
{
	if (vm->ndev == VM_DEV_MAX)
		return -ENOSPC;
	vm->dev[vm->ndev++] = d;
	return 0;
}

struct device *vm_device(struct vm *vm, const char *kind)
{
	for (unsigned i = 0; i < vm->ndev; i++)
		if (!strcmp(vm->dev[i]->ops->kind, kind))
			return vm->dev[i];
	return NULL;
}

int vm_attach_devices(struct vm *vm, const struct dev_host *h)
{
	for (unsigned i = 0; i < vm->ndev; i++) {
		int rc = vm->dev[i]->ops->attach ? vm->dev[i]->ops->attach(vm->dev[i], h) : 0;

		if (rc)
			return rc;
	}
	return 0;
}

void vm_quiesce_devices(struct vm *vm)
{
	for (unsigned i = 0; i < vm->ndev; i++)
		if (vm->dev[i]->ops->quiesce)
			vm->dev[i]->ops->quiesce(vm->dev[i]);
}

void vm_park_devices(struct vm *vm)
{
	for (unsigned i = 0; i < vm->ndev; i++)
		if (vm->dev[i]->ops->park)
			vm->dev[i]->ops->park(vm->dev[i]);
}

int vm_unpark_devices(struct vm *vm)
{
	for (unsigned i = 0; i < vm->ndev; i++) {
		int rc = vm->dev[i]->ops->unpark ? vm->dev[i]->ops->unpark(vm->dev[i]) : 0;

		if (rc)
			return rc;
	}
	return 0;
}

int vm_devices_reopen_wanted(const struct vm *vm)
{
	for (unsigned i = 0; i < vm->ndev; i++)
		if (vm->dev[i]->ops->reopen)
			return 1;
	return 0;
}

int vm_reopen_devices(struct vm *vm)
{
	int first = 0;

	for (unsigned i = 0; i < vm->ndev; i++) {
		int rc = vm->dev[i]->ops->reopen ? vm->dev[i]->ops->reopen(vm->dev[i]) : 0;

		if (rc && !first)
			first = rc;
	}
	return first;
}

void vm_detach_devices(struct vm *vm)
{
	for (unsigned i = 0; i < vm->ndev; i++)
		if (vm->dev[i]->ops->detach)
			vm->dev[i]->ops->detach(vm->dev[i]);
}

int vm_kick_devices(struct vm *vm, uint32_t mask)
{
	struct dev_guest g = {vm->mem, vm->mem_size, vm->name};
	char why[DEV_WHY_MAX];
	uint64_t ev = 0;

	for (unsigned i = 0; i < vm->ndev; i++) {
		const struct device_ops *ops = vm->dev[i]->ops;

		if (!(ops->ring_mask & mask) || !ops->kick)
			continue;
		if (ops->kick(vm->dev[i], &g, &ev, why, sizeof(why)))
			return vm_kill(vm, "%s", why);
	}
	if (ev)
		vm_deliver_events(vm, ev);
	return -1;
}

int vm_bind(struct vm *vm, struct shell *sh)
{
	int rc;

	if (vm->need_load || sh->mem != vm->mem) {
		rc = shell_bind(sh, vm->mem, vm->mem_size, vm->state);
		if (rc)
			return rc;
		vm->need_load = 0;
	}
	vm->shell = sh;
	return 0;
}

void vm_unbind(struct vm *vm)
{
	vm->shell = NULL;
}

void vm_post_events(struct vm *vm, uint64_t events)
{
	__atomic_fetch_or(&vm->pending, events, __ATOMIC_RELEASE);
}

/* The ablation of batched delivery (denalid --events-unbatched): set once,
 * before any VM runs, for the whole process. */
static int events_unbatched;

void vm_set_events_unbatched(int on)
{
	events_unbatched = on;
}

/*
 * Unbatched: the guest sees at most one event bit per entry, and none while
 * it has not taken the last one; the rest stay pending (so idle() returns at
 * once and the next entry delivers the next bit).
 */
static uint64_t deliver_one(struct vm *vm, uint64_t events)
{
	uint64_t cur = __atomic_load_n(&vm->shared->events, __ATOMIC_ACQUIRE);
	uint64_t one = events & -events;

	if (cur || vm->ev_delivered) {
		__atomic_fetch_or(&vm->pending, events, __ATOMIC_RELEASE);
		return cur;
	}
	if (events & ~one)
		__atomic_fetch_or(&vm->pending, events & ~one, __ATOMIC_RELEASE);
	vm->ev_delivered = 1;
	return __atomic_or_fetch(&vm->shared->events, one, __ATOMIC_RELEASE);
}

uint64_t vm_deliver_events(struct vm *vm, uint64_t events)
{
	events |= __atomic_exchange_n(&vm->pending, 0, __ATOMIC_ACQUIRE);
	if (!events)
		return __atomic_load_n(&vm->shared->events, __ATOMIC_ACQUIRE);
	if (events_unbatched)
		return deliver_one(vm, events);
	return __atomic_or_fetch(&vm->shared->events, events, __ATOMIC_RELEASE);
}

void vm_wake(struct vm *vm, uint64_t events)
{
	struct denali_hc_idle *blk;
	uint64_t all = vm_deliver_events(vm, events);

	/* Checked again, not trusted from idle() (a snapshot carries idle_gpa). */
	blk = gpa_to_hva(vm->mem, vm->mem_size, vm->idle_gpa, sizeof(*blk), GPA_WRITE);
	if (blk)
		blk->events = all;
	vm->ctr.wakeups++;
}

enum vm_stop vm_kill(struct vm *vm, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vm->reason, sizeof(vm->reason), fmt, ap);
	va_end(ap);
	vm->status = VM_KILLED;
	return VM_STOP_KILLED;
}
