/*
 * bench/density: what the files of denali-bench-density share (density.c the
 * driver and report, density_vms.c the VMs handed to workers, density_proc.c
 * /proc and memory, density_switch.c the switch cost, density_pop.c the
 * sleeper population). Not for use outside bench/density.
 */
#ifndef DENALI_BENCH_DENSITY_H
#define DENALI_BENCH_DENSITY_H
#include "bench_util.h"
#include "raw_kvm.h"
#include "sched/worker.h"
#include "vmm/shell.h"
#include "vmm/vm.h"

#include <denali/abi.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE       RAW_MEM_SIZE /* monitor and raw VMs alike */
#define QUANTUM_NS     1000000ull
#define INFLIGHT       32 /* VMs created but not yet started, per worker */
#define MAX_ROUND      15
#define RAW_SIG	       (SIGRTMIN + 2)
#define SPIN_WARM_NS   200000000ull
#define MUNMAP_PROBES  21
#define WAKE_PERIOD_NS 1000000ull
#define WAKE_EVENT     DENALI_EV_NET_RX

struct opts {
	unsigned max;	       /* live VMs to stop at (0: until the process refuses) */
	unsigned idle_seconds; /* all-idle CPU window */
	unsigned wakes;	       /* wake-ups for the lateness figure */
	unsigned wake_vms;     /* population the wake-ups pick from */
	unsigned rounds;       /* switch-cost rounds */
	double switch_seconds; /* measured window of each two-spinner run */
	unsigned workers;
	int teardown;
	const char *image;
};

static inline void sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

enum { MI_FREE, MI_AVAIL, MI_SLAB, MI_KSTACK, MI_PTABLES, MI_SECPT, MI_VMALLOC, MI_PERCPU, MI_N };

enum { PS_ANON, PS_FILE, PS_THREADS, PS_N };

struct memsnap {
	long mi[MI_N], ps[PS_N];
	long maps, fds;
};

/* Per-VM cost between two snapshots n VMs apart (bytes, or counts). */
struct memcost {
	unsigned vms;
	double user_anon, user_file, kernel_free, kernel, mi[MI_N];
	double threads, maps, fds;
};

/* What the worker callbacks report, under lock. */
struct tracker {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned started; /* VMs that reached their first IDLE */
	unsigned killed;  /* VMs killed before they were stopped */
	unsigned done;	  /* VMs finished (killed, exited or stopped) */
	uint64_t last_start_ns;
	char reason[256]; /* of the first VM killed */
};

struct dvm {
	struct task task; /* first: workers hand back struct task * */
	struct worker *w;
	int started;	  /* worker thread only */
	int done;	  /* under the tracker's lock */
	int stopping;	  /* main thread only */
	uint64_t wake_ns; /* atomic: when the pending wake-up was posted, 0 = none */
};

struct wake_lateness {
	double *us;
	unsigned cap;
	unsigned n; /* atomic */
};

/* The spinner's counters at the top of its memory (see guest.S). */
enum { SPIN_ITERS, SPIN_RUN_TICKS, SPIN_GAPS, SPIN_N };

/* What the start path costs with the population of the moment, measured on
 * this thread: vm_create (guest memory, tables, image), shell_create (KVM
 * VM and vCPU) and shell_destroy, and one munmap. */
struct probe {
	unsigned vms;
	double vm_create_us, shell_create_us, shell_destroy_us, munmap_us;
};

/* One measured window. */
struct spin_sample {
	uint64_t wall, cpu, switches, in_run;
	uint64_t spin[SPIN_N]; /* summed over the spinners */
};

struct raw_spin {
	const struct bench_image *img;
	int n;
	int tick; /* preempt every quantum even when alone */
	uint64_t ns;
	struct spin_sample out;
};

/*
 * Per switch: the time no guest ran (wall - the spinners' own running time,
 * from their TSC), less the lone spinner's floor (host interrupts, the
 * measuring itself), divided by the switches.
 */
struct switch_cost {
	double lost_us;	   /* per switch */
	double outside_us; /* (wall - time inside KVM_RUN) / switch: user space */
	double switches_per_s;
	double floor_pct; /* lone spinner: share of wall it did not run */
};

enum { SW_LOST, SW_OUTSIDE, SW_PER_S, SW_FLOOR, SW_N };

enum { SIDE_DENALI, SIDE_RAW, SIDE_RAW_TICK, SIDE_N };

struct switch_result {
	double fig[SIDE_N][SW_N][MAX_ROUND];
	unsigned rounds;
};

struct phase {
	unsigned from, to; /* started VMs before and after */
	double seconds;	   /* first vm_create of the phase -> last first-idle */
	double cpu_s;	   /* CPU of the whole process (all threads) over the phase */
};

struct bench {
	const struct opts *o;
	const struct bench_image *img;
	struct worker *workers;
	unsigned nworkers;
	struct dvm **vms;
	unsigned n, cap; /* created */
	char create_err[256];
	int create_failed;
};

struct wake_result {
	unsigned vms, posted, samples;
	double p50, p99, max, mean;
};

struct idle_result {
	unsigned vms;
	double seconds, cpu_pct, host_pct, dispatches;
};

struct nofd {
	double per_vm_bytes, mem_cap, pid_cap, threads_cap, maps_cap, estimate;
	const char *bound_by;
	long mem_avail_kib, pid_max, threads_max, max_map_count;
};

extern const char *const mi_name[MI_N];
extern const char *const ps_name[PS_N];
extern const char *const side_name[SIDE_N];
extern struct tracker pop, spin;
extern struct wake_lateness late;

void proc_open(void);
long long host_busy_ticks(void);
long count_maps(void);
long count_fds(void);
long sysctl_long(const char *path);
void mem_snap(struct memsnap *s);
void mem_cost(const struct memsnap *a, const struct memsnap *b, unsigned n, struct memcost *c);
double munmap_probe(void);
void on_done(struct task *t, void *arg);
int on_idle(struct task *t, void *arg);
struct dvm *dvm_create(const struct bench_image *img, unsigned id, int spinner, char *err,
		       size_t errlen);
void dvm_destroy(struct dvm *v);
void spin_read(const uint8_t *mem, uint64_t mem_size, uint64_t *acc);
void probe_costs(const struct bench_image *img, unsigned vms, struct probe *p);
void spin_sub(struct spin_sample *d, const struct spin_sample *a, const struct spin_sample *b);
uint64_t thread_cpu_ns(clockid_t c);
void denali_sample(struct worker *w, clockid_t cid, struct dvm **v, int n, struct spin_sample *s);
void denali_spin(struct worker *w, const struct bench_image *img, int n, uint64_t ns,
		 struct spin_sample *out);
void raw_on_signal(int sig);
void raw_open(void);
void raw_create(struct raw_vm *r, const struct bench_image *img);
void raw_sample(struct raw_vm *v, int n, uint64_t switches, uint64_t in_run, struct spin_sample *s);
void arm(timer_t t, uint64_t first, uint64_t every);
void *raw_spin_main(void *arg);
void raw_spin(const struct bench_image *img, int n, int tick, uint64_t ns, struct spin_sample *out);
double ticks_ns(uint64_t ticks);
void switch_cost(const struct spin_sample *solo, const struct spin_sample *pair,
		 struct switch_cost *c);
void record(struct switch_result *res, int side, unsigned r, const struct spin_sample *solo,
	    const struct spin_sample *pair);
double sw_med(const struct switch_result *res, int side, int fig);
void bench_switch(const struct opts *o, const struct bench_image *img, struct switch_result *res);
int wait_settled(struct bench *b, unsigned left);
void grow(struct bench *b, unsigned target, struct phase *ph);
void print_phase(const char *what, const struct phase *ph);
uint64_t xorshift(uint64_t *s);
void bench_wake(struct bench *b, unsigned vms, unsigned wakes, struct wake_result *res);
uint64_t rusage_ns(void);
uint64_t dispatches(const struct bench *b);
void bench_idle(struct bench *b, unsigned vms, unsigned seconds, struct idle_result *r);
double teardown(struct bench *b);
void start_round(struct bench *b, unsigned n, struct phase *ph);
void nofd_estimate(const struct memsnap *base, const struct memcost *c, struct nofd *e);
void usage(FILE *f);
void parse(int argc, char **argv, struct opts *o);
unsigned long check_env(void);
double rate(const struct phase *ph);
void print_memcost(const char *what, const struct memcost *c);
void json_memcost(const char *key, const struct memcost *c);
void json_phase(const char *key, const struct phase *ph);
const char *json_bool(int b);
void json_clean(char *s);

#endif
