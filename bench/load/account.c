/* account.c - the measured figures of a run (see account.h). */
#include "account.h"

#include <stddef.h>

int account_measured(const struct account *a, uint64_t t)
{
	return t >= a->w0 && t < a->w1;
}

void account_sent(const struct account *a, uint64_t intended, uint32_t target)
{
	if (!account_measured(a, intended))
		return;
	a->res->scheduled++;
	a->res->hits[target]++;
}

void account_done(const struct account *a, uint64_t intended, uint64_t base, uint64_t now,
		  int status)
{
	struct run_result *r = a->res;

	if (now >= a->w0 && now < a->w1)
		r->done_in_window++;
	if (!account_measured(a, intended))
		return;
	if (!r->completed || now < r->first_done)
		r->first_done = now;
	if (now > r->last_done)
		r->last_done = now;
	r->completed++;
	if (status < 400)
		r->ok++;
	else
		r->http_errors++;
	hist_record(&r->lat, now > base ? now - base : 0);
}

void account_failed(const struct account *a, uint64_t intended, uint64_t now, enum fail_kind kind)
{
	struct run_result *r = a->res;

	if (!account_measured(a, intended)) {
		r->warmup_failures++;
		return;
	}
	switch (kind) {
	case F_TIMEOUT:
		r->timeouts++;
		if (a->open)
			hist_record(&r->lat, now - intended);
		break;
	case F_REFUSED:
		r->refused++;
		break;
	case F_CONNECT:
		r->conn_errors++;
		break;
	case F_IO:
		r->io_errors++;
		break;
	case F_DROPPED:
		r->dropped++;
		break;
	}
}

void account_finish(const struct account *a)
{
	struct run_result *r = a->res;
	double window = (double)(a->w1 - a->w0) / 1e9, span = window;

	r->targets_used = 0;
	for (size_t t = 0; t < r->ntargets; t++)
		r->targets_used += r->hits[t] != 0;
	if (r->completed > 1 && (double)(r->last_done - r->first_done) / 1e9 > span)
		span = (double)(r->last_done - r->first_done) / 1e9;
	r->offered = window > 0 ? (double)r->scheduled / window : 0;
	r->throughput = span > 0 ? (double)r->completed / span : 0;
	r->throughput_span_s = span;
}
