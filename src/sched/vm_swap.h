/*
 * A VM to and from its swap slot: the glue between struct vm and swap.h.
 * What goes into the slot: the VM's resident non-zero pages, its complete
 * vCPU state, and a device blob (the monitor's own fields, the console's
 * latest output, and every device's save()). What stays in host memory for
 * a swapped VM: struct vm without its memory, its vcpu_state and its
 * console buffer, and its swap_record (84 bytes).
 */
#ifndef DENALI_SCHED_VM_SWAP_H
#define DENALI_SCHED_VM_SWAP_H

#include <stddef.h>
#include <stdint.h>

/* Console bytes kept in host memory for a swapped VM (the rest is in its slot). */
#define VM_SWAP_CONSOLE_KEEP 2048u

struct swap;
struct swap_record;
struct vm;

/*
 * Writes the VM to slot and releases its memory, vCPU state and console
 * buffer. The VM must be stopped (not in vm_run); if bound, its vCPU state
 * is read from the shell first and vm->shell is cleared: the caller pools
 * the shell it held. 0 or -errno with err set; on error the VM is unchanged
 * (still bound, memory intact).
 */
int vm_swap_out(struct vm *vm, struct swap *sw, uint64_t slot, struct swap_record *rec, char *err,
		size_t errlen);

/*
 * Reads a VM written by vm_swap_out() back: memory, vCPU state (loaded at
 * the next vm_bind()), devices. Every field is checked; on error (-EBADMSG
 * for a checksum, -EINVAL for a field, -errno from the file) err says why,
 * the VM holds no memory again and must be killed, never run.
 */
int vm_swap_in(struct vm *vm, struct swap *sw, const struct swap_record *rec, char *err,
	       size_t errlen);

/* Releases the VM's memory, vCPU state and console ring as a swap-out does
 * (the slot holds them): for a VM created afresh and then restored from its
 * slot after a restart. */
void vm_swap_release(struct vm *vm);

/* Reads the slot's metadata only and checks it belongs to vm (id, memory
 * size, device count): *deadline is the idle deadline it was saved with (0:
 * it was runnable). 0 or -errno with err. */
int vm_swap_peek(struct vm *vm, struct swap *sw, const struct swap_record *rec, uint64_t *deadline,
		 char *err, size_t errlen);

/* The device blob alone (export/import use it too): built into a malloc'd
 * buffer (0 or -errno), or checked field by field against the VM and then
 * applied (0 or -EINVAL with err; nothing applied on error). */
int vm_swap_blob_build(struct vm *vm, uint8_t **out, uint32_t *len);

/* The devices a blob holds state for, without a VM: their count (the
 * console is the first) and their kinds, comma-separated, into kinds (cap
 * bytes, truncated). -EINVAL for a blob whose framing is bad. */
int vm_swap_blob_devices(const uint8_t *b, uint32_t len, char *kinds, size_t cap);
int vm_swap_blob_apply(struct vm *vm, const uint8_t *b, uint32_t len, char *err, size_t errlen);

#endif
