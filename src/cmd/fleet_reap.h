/*
 * The reaper: frees the guest memory of VMs that ended, off the workers and
 * after the shells queued for destruction ahead of it (fleet_reap.c says why).
 */
#ifndef DENALI_CMD_FLEET_REAP_H
#define DENALI_CMD_FLEET_REAP_H

#include <pthread.h>
#include <stdint.h>

struct reap_item;

struct fleet_reaper {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct reap_item *head;
	uint64_t queued, freed; /* regions handed in, regions given back */
	pthread_t thread;
	int running, quit;
};

/* Starts its thread (without capabilities). 0 or -errno. */
int fleet_reaper_start(struct fleet_reaper *r);
/* Hands in a region from guest_mem_alloc(); freed at once if the reaper is not running. Any
 * thread. */
void fleet_reaper_put(struct fleet_reaper *r, uint8_t *mem, uint64_t size);
/* Regions handed in and not given back yet (0 once it is at rest). */
unsigned fleet_reaper_pending(struct fleet_reaper *r);
/* Frees what is left and ends the thread. */
void fleet_reaper_stop(struct fleet_reaper *r);

#endif
