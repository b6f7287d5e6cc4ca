/*
 * The gatekeeper and swap inside `denalid serve` (--swap DIR): the glue
 * between the registry (fleet.c) and the swapper (sched/swapper.h). Without
 * --swap every function here is a no-op and the registry behaves as before.
 *
 * With it, a VM is started under the gatekeeper (it takes a swap slot, or
 * the start is refused), idle VMs are swapped out to stay within
 * --mem-budget and --live-max, and a swapped VM comes back on an event: its
 * idle deadline, `denalictl swap in`, or a frame for it on the switch (held
 * on its port's bounded queue meanwhile, drops counted). Its memory, vCPU
 * state and device state (ring positions) travel through its slot.
 *
 * Not for other files than fleet.c and fleet_json.c.
 */
#ifndef DENALI_CMD_FLEET_SWAP_H
#define DENALI_CMD_FLEET_SWAP_H

#include "ctl/serve.h"

#include <jansson.h>
#include <stddef.h>

struct fleet;
struct fleet_vm;
struct task;

/* After the workers have started, before any VM: opens the swap files and
 * the gatekeeper and hooks them into every worker. 0 (also without --swap)
 * or -errno, with the reason printed. */
int fleet_swap_open(struct fleet *f, const struct serve_config *cfg);

/* After every VM and worker is gone. */
void fleet_swap_close(struct fleet *f);

/* Hands a new VM to its worker (v->task.w), through the gatekeeper when
 * there is one. f->lock held. 0 or -errno with err (no free slot, ...). */
int fleet_swap_add(struct fleet *f, struct fleet_vm *v, char *err, size_t errlen);

/* 1 if the VM of this id is in a swap slot the previous daemon left (a restart), not yet
 * taken: it can be made with vm_create_swapped() and handed to fleet_swap_add(), which adopts
 * it there (if that fails, the slot is given up and the VM boots afresh). f->lock held. */
int fleet_swap_in_slot(struct fleet *f, uint64_t id);

/* The worker's done callback, first thing: releases the VM's slot. */
void fleet_swap_done(struct fleet *f, struct task *t);

/* Adds "residency", "swap_ins", "swap_outs" to a VM's list row; returns 1 if
 * its memory is in its slot (it has no resident pages). f->lock held. */
int fleet_swap_vm_json(struct fleet *f, struct fleet_vm *v, json_t *row);

/* The "swap" object of stats, or NULL without --swap. */
json_t *fleet_swap_stats_json(struct fleet *f);

/* `denalictl swap out|in NAME` (the backend's swap op): 0 once it is out /
 * in, or -errno with err. */
int fleet_swap_cmd(void *ctx, const char *name, int in, char *err, size_t errlen);

/* The backend's swap_in_begin op: asks for NAME to come in, without waiting. */
int fleet_swap_in_begin(void *ctx, const char *name);

/* The backend's suspend op (SIGTERM): every VM swapped out and kept for the next start;
 * -ENOTSUP without --swap (the VMs are stopped as usual). */
int fleet_swap_suspend(void *ctx);

/* The backend's export and import ops (denalictl export NAME FILE, import FILE [NAME]):
 * the file is STATE/exports/FILE. An imported VM gets a new id on this daemon; it is not
 * among the stored definitions (it does not come back after a restart). */
int fleet_swap_export(void *ctx, const char *name, const char *file, char *err, size_t errlen);
int fleet_swap_import(void *ctx, const char *file, const char *name, char *err, size_t errlen);

#endif
