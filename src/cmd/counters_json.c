#include "counters_json.h"

void counters_add(struct vm_counters *to, const struct vm_counters *c)
{
	to->exits += c->exits;
	for (unsigned i = 0; i < VM_EXIT_KINDS; i++)
		to->exit_kinds[i] += c->exit_kinds[i];
	for (unsigned i = 0; i < DENALI_HC_COUNT; i++)
		to->hypercalls[i] += c->hypercalls[i];
	to->runs += c->runs;
	to->cpu_ns += c->cpu_ns;
	to->wakeups += c->wakeups;
	to->event_entries += c->event_entries;
	to->events += c->events;
	to->idle_fast += c->idle_fast;
	lateness_merge(&to->late, &c->late);
}

json_t *exit_kinds_json(const uint64_t k[VM_EXIT_KINDS])
{
	json_t *o = json_object();

	for (unsigned i = 0; i < VM_EXIT_KINDS; i++)
		json_object_set_new(o, vm_exit_kind_name(i), json_integer((json_int_t)k[i]));
	return o;
}

static json_int_t quantile(const struct lateness *l, double q)
{
	uint64_t us = lateness_quantile_us(l, q);

	return us == UINT64_MAX ? -1 : (json_int_t)us;
}

json_t *lateness_json(const struct lateness *l, int buckets)
{
	json_t *o = json_pack("{s:I, s:I, s:I, s:I}", "count", (json_int_t)l->count, "sum_us",
			      (json_int_t)(l->sum_ns / 1000), "p50_us", quantile(l, 0.5), "p99_us",
			      quantile(l, 0.99));

	if (buckets) {
		json_t *a = json_array();
		uint64_t cum = 0;

		for (unsigned i = 0; i < LATE_BUCKETS; i++) {
			cum += l->bucket[i];
			json_array_append_new(a, json_pack("[I, I]",
							   i < LATE_BUCKETS - 1
							       ? (json_int_t)LATE_BUCKET_LE_US(i)
							       : (json_int_t)-1,
							   (json_int_t)cum));
		}
		json_object_set_new(o, "buckets", a);
	}
	return o;
}

json_t *counters_json(const struct vm_counters *c)
{
	return json_pack(
	    "{s:I, s:o, s:{s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:I, s:o}", "exits",
	    (json_int_t)c->exits, "exits_by_reason", exit_kinds_json(c->exit_kinds), "hypercalls",
	    "exit", (json_int_t)c->hypercalls[0], "idle", (json_int_t)c->hypercalls[1], "kick",
	    (json_int_t)c->hypercalls[2], "panic", (json_int_t)c->hypercalls[3], "runs",
	    (json_int_t)c->runs, "cpu_ns", (json_int_t)c->cpu_ns, "wakeups", (json_int_t)c->wakeups,
	    "event_entries", (json_int_t)c->event_entries, "events", (json_int_t)c->events,
	    "wakeup_lateness", lateness_json(&c->late, 0));
}
