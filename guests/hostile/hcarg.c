/*
 * hostile hcarg MODE: hypercall arguments at the edges of what the monitor
 * may touch for the guest.
 *   idleend      IDLE block straddling the end of guest memory (mem_size - 8)
 *   idletop      IDLE block at 0xfffffff8 (the top of the 32-bit value)
 *   idle0        IDLE block at 0 (page 0)
 *   idlering     IDLE block straddling the last ring page and the private
 *                pages (0x6ff8)
 *   idlevregs    IDLE block straddling the vregs and shared pages (0x1ff8)
 *   idleres      IDLE block in the reserved, unmapped range (0x12000)
 *   panicend     PANIC message straddling the end of guest memory
 *   panicres     PANIC message straddling the private pages and the image
 *                (0xfffc, +8)
 *   panicempty   PANIC with an empty message at the very end of memory: a
 *                valid panic, shown as nothing
 *   deadlines    IDLE with deadlines 0, 1 and now - 1: each returns at once
 *                with the timer event; then KICK with every bit set; exit 7
 *   far          IDLE until DENALI_NO_DEADLINE - 1 (584 years): the VM must
 *                sleep without costing CPU and still be stoppable
 */
#include "hostile.h"

#include <string.h>

static volatile struct denali_hc_idle idle_arg;
static volatile struct denali_hc_panic panic_arg;

static void idle_at(uint64_t gpa)
{
	hostile_out(DENALI_HC_IDLE, (uint32_t)gpa);
}

static void panic_msg(uint64_t gpa, uint64_t len)
{
	panic_arg.msg_gpa = gpa;
	panic_arg.len = len;
	hostile_out(DENALI_HC_PANIC, (uint32_t)(uintptr_t)&panic_arg);
}

static int deadlines(void)
{
	uint64_t ds[3] = {0, 1, dn_now_ns() - 1};

	for (int i = 0; i < 3; i++) {
		uint64_t ev;

		idle_arg.deadline_ns = ds[i];
		idle_arg.events = 0;
		hostile_out(DENALI_HC_IDLE, (uint32_t)(uintptr_t)&idle_arg);
		ev = idle_arg.events;
		if (!(ev & DENALI_EV_TIMER)) {
			printf("hostile hcarg: deadline %lu returned events 0x%lx\n",
			       (unsigned long)ds[i], (unsigned long)ev);
			return 1;
		}
		dn_events_take();
	}
	hostile_out(DENALI_HC_KICK, 0xffffffffu);
	printf("hostile hcarg: deadlines ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "idleend";
	uint64_t mem = dn_mem_size();

	printf("hostile hcarg: about to %s\n", m);
	dn_console_sync();
	if (!strcmp(m, "idleend"))
		idle_at(mem - 8);
	else if (!strcmp(m, "idletop"))
		idle_at(0xfffffff8u);
	else if (!strcmp(m, "idle0"))
		idle_at(0);
	else if (!strcmp(m, "idlering"))
		idle_at(0x6ff8);
	else if (!strcmp(m, "idlevregs"))
		idle_at(0x1ff8);
	else if (!strcmp(m, "idleres"))
		idle_at(0x12000);
	else if (!strcmp(m, "panicend"))
		panic_msg(mem - 4, 8);
	else if (!strcmp(m, "panicres"))
		panic_msg(0xfffc, 8);
	else if (!strcmp(m, "panicempty"))
		panic_msg(mem, 0);
	else if (!strcmp(m, "far")) {
		idle_arg.deadline_ns = DENALI_NO_DEADLINE - 1;
		hostile_out(DENALI_HC_IDLE, (uint32_t)(uintptr_t)&idle_arg);
		printf("hostile hcarg: woke from a far deadline\n");
		return 3;
	} else if (!strcmp(m, "deadlines"))
		return deadlines() ? 1 : 7;
	else {
		printf("hostile hcarg: unknown mode %s\n", m);
		return 2;
	}
	hostile_survived("hcarg");
}
