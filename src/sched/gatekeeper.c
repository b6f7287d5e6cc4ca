/*
 * Gatekeeper policy: an admission queue (FIFO, so that every VM that asks
 * gets in), an idle LRU of the VMs that may be evicted, and a deadline heap
 * of swapped VMs. Everything is O(1) but the search past VMs whose last
 * eviction failed, which stay at the tail until they run again.
 */
#include "gatekeeper.h"

#include <errno.h>
#include <string.h>

#define GK_RELEASE_AHEAD 64 /* waiting VMs that evictions make room for at once */

static void list_init(struct gk_vm *head)
{
	head->next = head->prev = head;
}

static int linked(const struct gk_vm *v)
{
	return v->next != NULL;
}

static void list_del(struct gk_vm *v)
{
	if (!linked(v))
		return;
	v->prev->next = v->next;
	v->next->prev = v->prev;
	v->next = v->prev = NULL;
}

static void list_add_tail(struct gk_vm *head, struct gk_vm *v)
{
	list_del(v);
	v->prev = head->prev;
	v->next = head;
	head->prev->next = v;
	head->prev = v;
}

const char *gk_state_name(enum gk_state s)
{
	static const char *const names[] = {
	    [GK_REGISTERED] = "registered",
	    [GK_WAITING] = "waiting",
	    [GK_ADMITTING] = "admitting",
	    [GK_RESIDENT] = "resident",
	    [GK_SWAPPING_OUT] = "swapping-out",
	    [GK_SWAPPED] = "swapped",
	    [GK_GONE] = "gone",
	};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

int gk_init(struct gk *g, const struct gk_config *cfg)
{
	memset(g, 0, sizeof(*g));
	g->cfg = *cfg;
	if (!g->cfg.frame_queue_max)
		g->cfg.frame_queue_max = 256;
	list_init(&g->idle);
	list_init(&g->queue);
	return sched_init(&g->sleepers);
}

void gk_fini(struct gk *g)
{
	sched_fini(&g->sleepers);
}

void gk_register(struct gk *g, struct gk_vm *v, void *owner)
{
	memset(v, 0, sizeof(*v));
	sched_entity_init(&v->se, v);
	v->owner = owner;
	v->state = GK_REGISTERED;
	g->registered++;
}

void gk_adopt_swapped(struct gk *g, struct gk_vm *v, void *owner, uint64_t charge)
{
	gk_register(g, v, owner);
	g->registered--;
	v->state = GK_SWAPPED;
	v->has_image = 1;
	v->charge = charge;
	g->swapped++;
}

/* Idle, not running: may be evicted. */
static void relink(struct gk *g, struct gk_vm *v)
{
	if (v->state == GK_RESIDENT && v->idle && !v->running)
		list_add_tail(&g->idle, v);
	else
		list_del(v);
}

static void leave_state(struct gk *g, struct gk_vm *v)
{
	if (v->state == GK_REGISTERED)
		g->registered--;
	else if (v->state == GK_SWAPPED)
		g->swapped--;
	else if (v->state == GK_WAITING)
		g->waiting--;
}

int gk_request(struct gk *g, struct gk_vm *v, uint64_t charge)
{
	switch (v->state) {
	case GK_GONE:
		return -EINVAL;
	case GK_REGISTERED:
	case GK_SWAPPED:
		if (g->cfg.mem_budget && charge > g->cfg.mem_budget) {
			g->ctr.refused++;
			return -E2BIG;
		}
		sched_remove(&g->sleepers, &v->se);
		leave_state(g, v);
		v->charge = charge;
		v->state = GK_WAITING;
		g->waiting++;
		list_add_tail(&g->queue, v);
		return 0;
	case GK_SWAPPING_OUT:
		v->want_in = 1;
		return 0;
	default:
		v->by_deadline = 0; /* an event too, while it waits */
		return 0;	    /* queued or in memory already */
	}
}

int gk_frame(struct gk *g, struct gk_vm *v)
{
	if (v->state == GK_RESIDENT)
		return 1;
	if (v->state == GK_GONE || v->state == GK_REGISTERED ||
	    v->frames_queued >= g->cfg.frame_queue_max) {
		g->ctr.frames_dropped++;
		return -ENOBUFS;
	}
	v->frames_queued++;
	g->ctr.frames_queued++;
	if (v->state == GK_SWAPPED || v->state == GK_SWAPPING_OUT)
		gk_request(g, v, v->charge);
	return 0;
}

void gk_frames_delivered(struct gk *g, struct gk_vm *v)
{
	(void)g;
	v->frames_queued = 0;
}

void gk_run(struct gk *g, struct gk_vm *v)
{
	v->running = 1;
	v->idle = 0;
	v->evict_failed = 0;
	relink(g, v);
}

void gk_idle(struct gk *g, struct gk_vm *v, uint64_t now)
{
	v->running = 0;
	v->idle = 1;
	v->idle_since = now;
	relink(g, v);
}

void gk_charge(struct gk *g, struct gk_vm *v, uint64_t bytes)
{
	if (v->state == GK_ADMITTING || v->state == GK_RESIDENT || v->state == GK_SWAPPING_OUT) {
		g->resident = g->resident - v->charge + bytes;
		if (v->state == GK_SWAPPING_OUT)
			g->releasing = g->releasing - v->charge + bytes;
		/* A VM already on its way out (evicted for outgrowing its charge)
		 * does not raise the peak: its bytes are being released. */
		else if (g->resident > g->peak_resident)
			g->peak_resident = g->resident;
	}
	v->charge = bytes;
}

static int fits(const struct gk *g, const struct gk_vm *v)
{
	return (!g->cfg.mem_budget || g->resident + v->charge <= g->cfg.mem_budget) &&
	       (!g->cfg.live_max || g->live < g->cfg.live_max);
}

static void start_eviction(struct gk *g, struct gk_vm *v)
{
	list_del(v);
	v->state = GK_SWAPPING_OUT;
	g->releasing += v->charge;
	g->live_releasing++;
}

/* The oldest idle VM whose last eviction did not fail, or NULL. */
static struct gk_vm *victim(struct gk *g)
{
	for (struct gk_vm *v = g->idle.next; v != &g->idle; v = v->next)
		if (!v->evict_failed)
			return v;
	return NULL;
}

struct gk_action gk_next(struct gk *g)
{
	struct gk_vm *head = g->queue.next != &g->queue ? g->queue.next : NULL, *v;
	uint64_t need = 0, want = 0;
	unsigned need_live = 0, ahead = 0;

	if (head && fits(g, head)) {
		list_del(head);
		g->waiting--;
		head->state = GK_ADMITTING;
		g->resident += head->charge;
		g->live++;
		if (g->resident > g->peak_resident)
			g->peak_resident = g->resident;
		g->ctr.admissions++;
		if (head->has_image) {
			g->ctr.swap_ins++;
			g->ctr.swap_ins_deadline += head->by_deadline;
		}
		head->by_deadline = 0;
		return (struct gk_action){GK_ACT_ADMIT, head};
	}
	/* Room for the first GK_RELEASE_AHEAD that wait, not only the head: their evictions
	 * go side by side on the workers instead of one worker round trip each. */
	for (v = head; v && v != &g->queue && ahead < GK_RELEASE_AHEAD; v = v->next) {
		want += v->charge;
		ahead++;
	}
	if (head && g->cfg.mem_budget && g->resident + want > g->cfg.mem_budget)
		need = g->resident + want - g->cfg.mem_budget;
	if (g->cfg.mem_budget && g->resident > g->cfg.mem_budget &&
	    g->resident - g->cfg.mem_budget > need)
		need = g->resident - g->cfg.mem_budget; /* grown past it */
	if (head && g->cfg.live_max && g->live + ahead > g->cfg.live_max)
		need_live = g->live + ahead - g->cfg.live_max;
	if ((need > g->releasing || need_live > g->live_releasing) && (v = victim(g))) {
		start_eviction(g, v);
		return (struct gk_action){GK_ACT_EVICT, v};
	}
	return (struct gk_action){GK_ACT_NONE, NULL};
}

void gk_evicted(struct gk *g, struct gk_vm *v, int rc)
{
	if (v->state != GK_SWAPPING_OUT)
		return;
	g->releasing -= v->charge;
	g->live_releasing--;
	if (rc == 0) {
		g->resident -= v->charge;
		g->live--;
		v->state = GK_SWAPPED;
		v->has_image = 1;
		v->idle = 0;
		g->swapped++;
		g->ctr.evictions++;
		if (v->want_in) {
			v->want_in = 0;
			gk_request(g, v, v->charge);
		}
		return;
	}
	v->state = GK_RESIDENT;
	if (rc == -EBUSY) {
		/* It woke (or ran) since it was chosen: not a failure, and not a
		 * candidate until it idles again. */
		v->idle = 0;
		v->want_in = 0;
		relink(g, v);
		return;
	}
	g->ctr.eviction_failures++;
	v->evict_failed = 1;
	v->want_in = 0; /* it is in memory: the event reaches it there */
	relink(g, v);
}

void gk_admitted(struct gk *g, struct gk_vm *v, int rc)
{
	if (v->state != GK_ADMITTING)
		return;
	if (rc == 0) {
		v->state = GK_RESIDENT;
		v->idle = 0;
		v->running = 0;
		v->has_image = 1;
		return;
	}
	if (v->has_image)
		g->ctr.swap_in_failures++;
	g->resident -= v->charge;
	g->live--;
	v->charge = 0;
	v->state = GK_GONE;
}

int gk_swap_out(struct gk *g, struct gk_vm *v)
{
	if (v->state != GK_RESIDENT)
		return -EALREADY;
	if (v->running)
		return -EBUSY;
	start_eviction(g, v);
	return 0;
}

int gk_set_deadline(struct gk *g, struct gk_vm *v, uint64_t deadline)
{
	sched_remove(&g->sleepers, &v->se);
	if (v->state != GK_SWAPPED || deadline == SCHED_NO_DEADLINE)
		return 0;
	return sched_sleep(&g->sleepers, &v->se, deadline);
}

static void expired(struct sched_entity *e, void *arg)
{
	struct gk_vm *v = e->owner;

	sched_remove(&((struct gk *)arg)->sleepers, e);
	if (gk_request(arg, v, v->charge) == 0 && v->state == GK_WAITING)
		v->by_deadline = 1;
}

size_t gk_expire(struct gk *g, uint64_t now)
{
	return sched_expire(&g->sleepers, now, expired, g);
}

uint64_t gk_next_deadline(const struct gk *g)
{
	return sched_next_deadline(&g->sleepers);
}

void gk_remove(struct gk *g, struct gk_vm *v)
{
	sched_remove(&g->sleepers, &v->se);
	list_del(v);
	leave_state(g, v);
	if (v->state == GK_SWAPPING_OUT) {
		g->releasing -= v->charge;
		g->live_releasing--;
	}
	if (v->state == GK_ADMITTING || v->state == GK_RESIDENT || v->state == GK_SWAPPING_OUT) {
		g->resident -= v->charge;
		g->live--;
	}
	v->state = GK_GONE;
}
