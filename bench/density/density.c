/*
 * denali-bench-density: how many sleeping VMs one denali process holds, how
 * fast they start, what they cost while idle, how late a woken one runs, and
 * what a switch between two spinning VMs costs, against raw KVM.
 *
 * Everything goes through the real scheduler: one worker per CPU
 * (worker_start), VMs made by vm_create from an ELF image and handed over
 * with worker_send(WCMD_ADD), as `denalid run` does. The guest (guest.S) is
 * a sleeper (IDLE with no deadline, forever) or a spinner (increments a
 * counter at the top of its memory, forever).
 *
 *   switch   two spinners on one worker, 1 ms quantum, against two raw KVM
 *            VMs on one thread alternated by a POSIX timer signal that sets
 *            immediate_exit; cost per switch = guest progress lost per switch
 *            (calibrated by a lone spinner on each side, in the same round).
 *   start    1k, then 5k, then as many as the process allows (one growing
 *            population): a VM has started when it reaches its first IDLE
 *            (the worker's idle hook); time from the first vm_create of the
 *            phase to the last first-idle.
 *   memory   /proc/meminfo and /proc/self/status deltas per live VM.
 *   wake     every 1 ms a random sleeper (of 5,000) gets an event and a
 *            WCMD_WAKE; lateness = its next IDLE - the post.
 *   idle     getrusage over 30 s with every VM idle.
 *
 * Every /proc file is opened before the population grows: at the open-file
 * wall nothing else can be opened. Needs root and /dev/kvm: exits 77
 * otherwise.
 */
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

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- /proc, through files opened before the fd wall --------------------- */

enum { MI_FREE, MI_AVAIL, MI_SLAB, MI_KSTACK, MI_PTABLES, MI_SECPT, MI_VMALLOC, MI_PERCPU, MI_N };
static const char *const mi_name[MI_N] = {"MemFree",	 "MemAvailable", "Slab",
					  "KernelStack", "PageTables",	 "SecPageTables",
					  "VmallocUsed", "Percpu"};

enum { PS_ANON, PS_FILE, PS_THREADS, PS_N };
static const char *const ps_name[PS_N] = {"RssAnon", "RssFile", "Threads"};

static int meminfo_fd = -1, status_fd = -1, stat_fd = -1, maps_fd = -1;
static DIR *fd_dir;

static void proc_open(void)
{
	meminfo_fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	status_fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	stat_fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	fd_dir = opendir("/proc/self/fd");
	if (meminfo_fd < 0 || status_fd < 0 || stat_fd < 0 || maps_fd < 0 || !fd_dir)
		bench_fail("cannot open /proc files: %s", strerror(errno));
}

/* Busy jiffies of the whole host (all CPUs): user..steal minus idle, iowait. */
static long long host_busy_ticks(void)
{
	char buf[512];
	long long v[8] = {0};
	ssize_t len = pread(stat_fd, buf, sizeof(buf) - 1, 0);

	if (len <= 0)
		return 0;
	buf[len] = 0;
	if (sscanf(buf, "cpu %lld %lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) != 8)
		return 0;
	return v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
}

static long count_maps(void)
{
	static char buf[65536];
	long lines = 0;
	ssize_t n;

	if (lseek(maps_fd, 0, SEEK_SET) < 0)
		return -1;
	while ((n = read(maps_fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	return lines;
}

static long count_fds(void)
{
	long n = 0;

	rewinddir(fd_dir);
	while (readdir(fd_dir))
		n++;
	return n - 3; /* ".", ".." and the directory's own fd */
}

static long sysctl_long(const char *path)
{
	char buf[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtol(buf, NULL, 10);
}

struct memsnap {
	long mi[MI_N], ps[PS_N];
	long maps, fds;
};

static void mem_snap(struct memsnap *s)
{
	bench_read_fields(meminfo_fd, mi_name, MI_N, s->mi);
	bench_read_fields(status_fd, ps_name, PS_N, s->ps);
	s->maps = count_maps();
	s->fds = count_fds();
}

/* Per-VM cost between two snapshots n VMs apart (bytes, or counts). */
struct memcost {
	unsigned vms;
	double user_anon, user_file, kernel_free, kernel, mi[MI_N];
	double threads, maps, fds;
};

static void mem_cost(const struct memsnap *a, const struct memsnap *b, unsigned n,
		     struct memcost *c)
{
	memset(c, 0, sizeof(*c));
	c->vms = n;
	if (!n)
		return;
	for (int i = 0; i < MI_N; i++)
		c->mi[i] = (double)(b->mi[i] - a->mi[i]) * 1024 / n;
	c->user_anon = (double)(b->ps[PS_ANON] - a->ps[PS_ANON]) * 1024 / n;
	c->user_file = (double)(b->ps[PS_FILE] - a->ps[PS_FILE]) * 1024 / n;
	c->threads = (double)(b->ps[PS_THREADS] - a->ps[PS_THREADS]) / n;
	c->maps = (double)(b->maps - a->maps) / n;
	c->fds = (double)(b->fds - a->fds) / n;
	for (int i = MI_SLAB; i <= MI_PERCPU; i++)
		c->kernel += c->mi[i];
	c->kernel_free = -c->mi[MI_FREE] - c->user_anon;
}

/* Median cost of one munmap of a touched 4 KiB page: every live KVM VM's
 * MMU notifier hears it. */
static double munmap_probe(void)
{
	double us[MUNMAP_PROBES];

	for (int i = 0; i < MUNMAP_PROBES; i++) {
		volatile uint8_t *p =
		    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint64_t t0;

		if (p == MAP_FAILED)
			bench_fail("mmap: %s", strerror(errno));
		p[0] = 1;
		t0 = vm_now_ns();
		munmap((void *)p, 4096);
		us[i] = (double)(vm_now_ns() - t0) / 1000.0;
	}
	return bench_pct(us, MUNMAP_PROBES, 50);
}

/* ---- VMs handed to workers ---------------------------------------------- */

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

static struct tracker pop = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
static struct tracker spin = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
static struct wake_lateness late;

static void on_done(struct task *t, void *arg)
{
	struct tracker *tr = arg;
	struct dvm *v = (struct dvm *)t;

	pthread_mutex_lock(&tr->lock);
	v->done = 1;
	if (t->vm->status == VM_KILLED && !v->stopping) {
		if (!tr->killed++)
			snprintf(tr->reason, sizeof(tr->reason), "vm %.40s: %.200s", t->vm->name,
				 t->vm->reason);
	}
	tr->done++;
	pthread_cond_broadcast(&tr->cond);
	pthread_mutex_unlock(&tr->lock);
}

/* Runs on the worker thread each time a sleeper idles: its first idle means
 * it has started; later ones end a wake-up. */
static int on_idle(struct task *t, void *arg)
{
	struct dvm *v = (struct dvm *)t;
	uint64_t now = vm_now_ns(), posted;

	(void)arg;
	if (!v->started) {
		v->started = 1;
		pthread_mutex_lock(&pop.lock);
		pop.started++;
		pop.last_start_ns = now;
		pthread_cond_broadcast(&pop.cond);
		pthread_mutex_unlock(&pop.lock);
		return 0;
	}
	posted = __atomic_exchange_n(&v->wake_ns, 0, __ATOMIC_ACQ_REL);
	if (posted) {
		unsigned i = __atomic_fetch_add(&late.n, 1, __ATOMIC_RELAXED);

		if (i < late.cap)
			late.us[i] = (double)(now - posted) / 1000.0;
	}
	return 0;
}

static struct dvm *dvm_create(const struct bench_image *img, unsigned id, int spinner, char *err,
			      size_t errlen)
{
	char name[32];
	struct vm_config cfg = {
	    .name = name,
	    .image = "bench-density",
	    .elf = img->elf,
	    .elf_size = img->size,
	    .mem_size = MEM_SIZE,
	    .id = id,
	};
	struct dvm *v = calloc(1, sizeof(*v));

	if (!v) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(name, sizeof(name), "%s-%u", spinner ? "spin" : "sleep", id);
	if (vm_create(&cfg, &v->task.vm, err, errlen)) {
		free(v);
		return NULL;
	}
	v->task.vm->state->regs.rsi = (uint64_t)spinner; /* loaded at its first bind */
	sched_entity_init(&v->task.se, &v->task);
	return v;
}

static void dvm_destroy(struct dvm *v)
{
	vm_destroy(v->task.vm);
	free(v);
}

/* The spinner's counters at the top of its memory (see guest.S). */
enum { SPIN_ITERS, SPIN_RUN_TICKS, SPIN_GAPS, SPIN_N };

static void spin_read(const uint8_t *mem, uint64_t mem_size, uint64_t *acc)
{
	const volatile uint64_t *c = (const volatile uint64_t *)(mem + mem_size - 32);

	for (int i = 0; i < SPIN_N; i++)
		acc[i] += c[i];
}

#define PROBES 7

/* What the start path costs with the population of the moment, measured on
 * this thread: vm_create (guest memory, tables, image), shell_create (KVM
 * VM and vCPU) and shell_destroy, and one munmap. */
struct probe {
	unsigned vms;
	double vm_create_us, shell_create_us, shell_destroy_us, munmap_us;
};

static void probe_costs(const struct bench_image *img, unsigned vms, struct probe *p)
{
	double vc[PROBES], sc[PROBES], sd[PROBES];
	char err[256];

	p->vms = vms;
	for (int i = 0; i < PROBES; i++) {
		struct shell *sh;
		struct dvm *v;
		uint64_t t0 = vm_now_ns();

		v = dvm_create(img, 800000 + (unsigned)i, 0, err, sizeof(err));
		if (!v)
			bench_fail("vm_create (probe): %s", err);
		vc[i] = (double)(vm_now_ns() - t0) / 1000.0;
		dvm_destroy(v);
		t0 = vm_now_ns();
		if (shell_create(&sh)) {
			sc[i] = sd[i] = -1;
			continue;
		}
		sc[i] = (double)(vm_now_ns() - t0) / 1000.0;
		t0 = vm_now_ns();
		shell_destroy(sh);
		sd[i] = (double)(vm_now_ns() - t0) / 1000.0;
	}
	p->vm_create_us = bench_pct(vc, PROBES, 50);
	p->shell_create_us = bench_pct(sc, PROBES, 50);
	p->shell_destroy_us = bench_pct(sd, PROBES, 50);
	p->munmap_us = munmap_probe();
	printf("probe with %5u VMs live: vm_create %.1f us, shell_create %.1f us, shell_destroy "
	       "%.1f us, munmap of one page %.1f us\n",
	       vms, p->vm_create_us, p->shell_create_us, p->shell_destroy_us, p->munmap_us);
}

/* ---- the switch between two spinners: denali ------------------------------ */

/* One measured window. */
struct spin_sample {
	uint64_t wall, cpu, switches, in_run;
	uint64_t spin[SPIN_N]; /* summed over the spinners */
};

static void spin_sub(struct spin_sample *d, const struct spin_sample *a,
		     const struct spin_sample *b)
{
	d->wall = b->wall - a->wall;
	d->cpu = b->cpu - a->cpu;
	for (int i = 0; i < SPIN_N; i++)
		d->spin[i] = b->spin[i] - a->spin[i];
	d->switches = b->switches - a->switches;
	d->in_run = b->in_run - a->in_run;
}

static uint64_t thread_cpu_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void denali_sample(struct worker *w, clockid_t cid, struct dvm **v, int n,
			  struct spin_sample *s)
{
	memset(s, 0, sizeof(*s));
	s->wall = vm_now_ns();
	s->cpu = thread_cpu_ns(cid);
	s->switches = __atomic_load_n(&w->stats.preemptions, __ATOMIC_RELAXED);
	for (int i = 0; i < n; i++) {
		spin_read(v[i]->task.vm->mem, v[i]->task.vm->mem_size, s->spin);
		s->in_run += __atomic_load_n(&v[i]->task.vm->ctr.cpu_ns, __ATOMIC_RELAXED);
	}
}

/* n spinners on worker w for warm-up + ns; the measured window in *out. */
static void denali_spin(struct worker *w, const struct bench_image *img, int n, uint64_t ns,
			struct spin_sample *out)
{
	struct dvm *v[2];
	struct spin_sample a, b;
	clockid_t cid;
	char err[256];
	unsigned done0;

	if (pthread_getcpuclockid(w->thread, &cid))
		bench_fail("pthread_getcpuclockid failed");
	pthread_mutex_lock(&spin.lock);
	done0 = spin.done;
	pthread_mutex_unlock(&spin.lock);
	for (int i = 0; i < n; i++) {
		v[i] = dvm_create(img, 900000 + (unsigned)i, 1, err, sizeof(err));
		if (!v[i])
			bench_fail("vm_create (spinner): %s", err);
		v[i]->w = w;
		worker_send(w, WCMD_ADD, &v[i]->task);
	}
	sleep_ns(SPIN_WARM_NS);
	denali_sample(w, cid, v, n, &a);
	sleep_ns(ns);
	denali_sample(w, cid, v, n, &b);
	spin_sub(out, &a, &b);
	for (int i = 0; i < n; i++) {
		v[i]->stopping = 1;
		worker_send(w, WCMD_STOP, &v[i]->task);
	}
	pthread_mutex_lock(&spin.lock);
	while (spin.done < done0 + (unsigned)n)
		pthread_cond_wait(&spin.cond, &spin.lock);
	pthread_mutex_unlock(&spin.lock);
	for (int i = 0; i < n; i++)
		dvm_destroy(v[i]);
}

/* ---- the switch between two spinners: raw KVM ------------------------------ */

static struct kvm_run *volatile raw_running;

static void raw_on_signal(int sig)
{
	struct kvm_run *r = raw_running;

	(void)sig;
	if (r)
		r->immediate_exit = 1;
}

/* /dev/kvm for raw VMs, and RAW_SIG to interrupt their KVM_RUN. */
static void raw_open(void)
{
	struct sigaction sa;

	raw_kvm_open();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = raw_on_signal;
	sa.sa_flags = SA_RESTART; /* KVM_RUN still returns EINTR */
	sigemptyset(&sa.sa_mask);
	if (sigaction(RAW_SIG, &sa, NULL) < 0)
		bench_fail("sigaction: %s", strerror(errno));
}

/* A raw VM as vm_create + a shell make it, with rsi = 1 (spinner). */
static void raw_create(struct raw_vm *r, const struct bench_image *img)
{
	raw_vm_mem(r, img);
	raw_vm_shell(r);
	raw_vm_slot(r, r->mem, MEM_SIZE);
	raw_vm_regs(r, 0, 1);
}

struct raw_spin {
	const struct bench_image *img;
	int n;
	int tick; /* preempt every quantum even when alone */
	uint64_t ns;
	struct spin_sample out;
};

static void raw_sample(struct raw_vm *v, int n, uint64_t switches, uint64_t in_run,
		       struct spin_sample *s)
{
	s->wall = vm_now_ns();
	s->cpu = thread_cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	s->switches = switches;
	s->in_run = in_run;
	memset(s->spin, 0, sizeof(s->spin));
	for (int i = 0; i < n; i++)
		spin_read(v[i].mem, MEM_SIZE, s->spin);
}

static void arm(timer_t t, uint64_t first, uint64_t every)
{
	struct itimerspec its = {
	    .it_interval = {(time_t)(every / 1000000000ull), (long)(every % 1000000000ull)},
	    .it_value = {(time_t)(first / 1000000000ull), (long)(first % 1000000000ull)},
	};

	timer_settime(t, 0, &its, NULL);
}

/*
 * The raw baseline, on its own thread: n spinners on one thread. With a
 * tick (always with two), a periodic timer (the quantum) whose signal sets
 * immediate_exit in the running VM's kvm_run interrupts KVM_RUN and the
 * next VM runs; without, the timer fires only at the window's two ends.
 * KVM_RUN is timed like vm_run times it.
 */
static void *raw_spin_main(void *arg)
{
	struct raw_spin *rs = arg;
	struct raw_vm v[2];
	struct spin_sample a = {0}, b;
	struct sigevent sev;
	uint64_t switches = 0, in_run = 0, t_end = 0;
	timer_t timer;
	int cur = 0, phase = 0;

	for (int i = 0; i < rs->n; i++)
		raw_create(&v[i], rs->img);
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = RAW_SIG;
	sev._sigev_un._tid = gettid();
	if (timer_create(CLOCK_MONOTONIC, &sev, &timer) < 0)
		bench_fail("timer_create: %s", strerror(errno));
	uint64_t t_warm = vm_now_ns() + SPIN_WARM_NS;

	if (rs->tick)
		arm(timer, QUANTUM_NS, QUANTUM_NS);
	else
		arm(timer, SPIN_WARM_NS, 0);
	for (;;) {
		struct raw_vm *r = &v[cur];
		uint64_t t0, t1;
		int rc;

		r->run->immediate_exit = 0; /* as the worker does before a dispatch */
		raw_running = r->run;
		t0 = vm_now_ns();
		rc = ioctl(r->vcpu_fd, KVM_RUN, 0);
		t1 = vm_now_ns();
		raw_running = NULL;
		in_run += t1 - t0;
		if (rc == 0)
			bench_fail("raw spinner exited (reason %u)", r->run->exit_reason);
		if (errno != EINTR && errno != EAGAIN)
			bench_fail("raw KVM_RUN: %s", strerror(errno));
		if (rs->tick) {
			switches++;
			cur = (cur + 1) % rs->n;
		}
		if (phase == 0 && t1 >= t_warm) {
			raw_sample(v, rs->n, switches, in_run, &a);
			t_end = a.wall + rs->ns;
			if (!rs->tick)
				arm(timer, rs->ns, 0);
			phase = 1;
		} else if (phase == 1 && t1 >= t_end) {
			raw_sample(v, rs->n, switches, in_run, &b);
			break;
		}
	}
	timer_delete(timer);
	spin_sub(&rs->out, &a, &b);
	for (int i = 0; i < rs->n; i++)
		raw_vm_destroy(&v[i]);
	return NULL;
}

static void raw_spin(const struct bench_image *img, int n, int tick, uint64_t ns,
		     struct spin_sample *out)
{
	struct raw_spin rs = {.img = img, .n = n, .tick = tick, .ns = ns};
	pthread_t th;

	if (pthread_create(&th, NULL, raw_spin_main, &rs))
		bench_fail("pthread_create failed");
	pthread_join(th, NULL);
	*out = rs.out;
}

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
static const char *const side_name[SIDE_N] = {"denali", "raw KVM", "raw, 1 VM"};

static double ticks_ns(uint64_t ticks)
{
	uint64_t hz = kvm_tsc_hz();

	return hz ? (double)ticks * 1e9 / (double)hz : 0;
}

static void switch_cost(const struct spin_sample *solo, const struct spin_sample *pair,
			struct switch_cost *c)
{
	double floor = 1 - ticks_ns(solo->spin[SPIN_RUN_TICKS]) / (double)solo->wall;
	double lost = (double)pair->wall - ticks_ns(pair->spin[SPIN_RUN_TICKS]);
	double sw = pair->switches ? (double)pair->switches : 1;

	c->lost_us = (lost - floor * (double)pair->wall) / sw / 1000.0;
	c->outside_us = ((double)pair->wall - (double)pair->in_run) / sw / 1000.0;
	c->switches_per_s = (double)pair->switches * 1e9 / (double)pair->wall;
	c->floor_pct = 100 * floor;
}

struct switch_result {
	double fig[SIDE_N][SW_N][MAX_ROUND];
	unsigned rounds;
};

static void record(struct switch_result *res, int side, unsigned r, const struct spin_sample *solo,
		   const struct spin_sample *pair)
{
	struct switch_cost c;

	switch_cost(solo, pair, &c);
	printf("  %-10s %7.1f us lost per switch  %6.1f us outside KVM_RUN  %5.0f switches/s  "
	       "(lone spinner floor %.2f%%, %lu gaps seen)\n",
	       side_name[side], c.lost_us, c.outside_us, c.switches_per_s, c.floor_pct,
	       pair->spin[SPIN_GAPS]);
	res->fig[side][SW_LOST][r] = c.lost_us;
	res->fig[side][SW_OUTSIDE][r] = c.outside_us;
	res->fig[side][SW_PER_S][r] = c.switches_per_s;
	res->fig[side][SW_FLOOR][r] = c.floor_pct;
}

static double sw_med(const struct switch_result *res, int side, int fig)
{
	return bench_median(res->fig[side][fig], res->rounds);
}

static void bench_switch(const struct opts *o, const struct bench_image *img,
			 struct switch_result *res)
{
	uint64_t ns = (uint64_t)(o->switch_seconds * 1e9);
	struct worker w;
	int rc;

	printf("switch: two spinners on one worker, %llu ms quantum, %u rounds of %.1f s\n",
	       QUANTUM_NS / 1000000, o->rounds, o->switch_seconds);
	rc = worker_start(&w, 99, QUANTUM_NS, on_done, &spin);
	if (rc)
		bench_fail("worker_start: %s", strerror(-rc));
	raw_open();
	for (unsigned r = 0; r < o->rounds; r++) {
		struct spin_sample solo, pair;

		printf(" round %u/%u\n", r + 1, o->rounds);
		denali_spin(&w, img, 1, ns / 2, &solo);
		denali_spin(&w, img, 2, ns, &pair);
		record(res, SIDE_DENALI, r, &solo, &pair);
		raw_spin(img, 1, 0, ns / 2, &solo);
		raw_spin(img, 2, 1, ns, &pair);
		record(res, SIDE_RAW, r, &solo, &pair);
		raw_spin(img, 1, 1, ns, &pair);
		record(res, SIDE_RAW_TICK, r, &solo, &pair);
	}
	res->rounds = o->rounds;
	worker_stop(&w);
	raw_kvm_close();
}

/* ---- the sleeper population ------------------------------------------------ */

struct phase {
	unsigned from, to; /* started VMs before and after */
	double seconds;	   /* first vm_create of the phase -> last first-idle */
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

/* Waits until at most `left` created VMs have neither started nor been
 * killed; returns non-zero once a VM has been killed. */
static int wait_settled(struct bench *b, unsigned left)
{
	int killed;

	pthread_mutex_lock(&pop.lock);
	while (b->n - pop.started - pop.killed > left)
		pthread_cond_wait(&pop.cond, &pop.lock);
	killed = pop.killed > 0;
	pthread_mutex_unlock(&pop.lock);
	return killed;
}

/*
 * Creates sleepers and hands them to the workers round-robin until `target`
 * have started, a VM is killed (no shell: the fd wall) or vm_create fails.
 * At most INFLIGHT per worker wait to start, so that the creating thread
 * does not run far ahead of the workers.
 */
static void grow(struct bench *b, unsigned target, struct phase *ph)
{
	unsigned inflight = INFLIGHT * b->nworkers;
	uint64_t t0 = vm_now_ns();

	pthread_mutex_lock(&pop.lock);
	ph->from = pop.started;
	pthread_mutex_unlock(&pop.lock);
	while (b->n < target && b->n < b->cap && !b->create_failed) {
		struct dvm *v;

		if (wait_settled(b, inflight - 1))
			break;
		v = dvm_create(b->img, b->n + 1, 0, b->create_err, sizeof(b->create_err));
		if (!v) {
			b->create_failed = 1;
			break;
		}
		v->w = &b->workers[b->n % b->nworkers];
		b->vms[b->n++] = v;
		worker_send(v->w, WCMD_ADD, &v->task);
	}
	wait_settled(b, 0);
	pthread_mutex_lock(&pop.lock);
	ph->to = pop.started;
	ph->seconds = pop.last_start_ns > t0 ? (double)(pop.last_start_ns - t0) / 1e9 : 0;
	pthread_mutex_unlock(&pop.lock);
}

static void print_phase(const char *what, const struct phase *ph)
{
	printf("start %-4s %5u -> %5u VMs started in %6.2f s: %6.0f VMs/s\n", what, ph->from,
	       ph->to, ph->seconds, ph->seconds > 0 ? (ph->to - ph->from) / ph->seconds : 0);
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct wake_result {
	unsigned vms, posted, samples;
	double p50, p99, max, mean;
};

/* Every WAKE_PERIOD_NS: a random idle sleeper among the first `vms` gets an
 * event and a WCMD_WAKE; its next idle (on_idle) records the lateness. */
static void bench_wake(struct bench *b, unsigned vms, unsigned wakes, struct wake_result *res)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull, next;
	struct timespec ts;

	late.us = calloc(wakes, sizeof(double));
	if (!late.us)
		bench_fail("out of memory");
	late.cap = wakes;
	__atomic_store_n(&late.n, 0, __ATOMIC_RELEASE);
	memset(res, 0, sizeof(*res));
	res->vms = vms;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	next = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + WAKE_PERIOD_NS;
	for (unsigned i = 0; i < wakes; i++) {
		struct timespec at = {(time_t)(next / 1000000000ull), (long)(next % 1000000000ull)};
		struct dvm *v;

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
			;
		next += WAKE_PERIOD_NS;
		for (int tries = 0;; tries++) {
			v = b->vms[xorshift(&seed) % vms];
			if (v->started && !v->done &&
			    !__atomic_load_n(&v->wake_ns, __ATOMIC_ACQUIRE))
				break;
			if (tries > 100)
				bench_fail("no idle VM to wake");
		}
		__atomic_store_n(&v->wake_ns, vm_now_ns(), __ATOMIC_RELEASE);
		vm_post_events(v->task.vm, WAKE_EVENT);
		worker_send(v->w, WCMD_WAKE, &v->task);
		res->posted++;
	}
	sleep_ns(100000000ull); /* let the last wake-ups land */
	res->samples = __atomic_load_n(&late.n, __ATOMIC_ACQUIRE);
	if (res->samples > late.cap)
		res->samples = late.cap;
	for (unsigned i = 0; i < res->samples; i++)
		res->mean += late.us[i] / res->samples;
	res->p50 = bench_pct(late.us, res->samples, 50);
	res->p99 = bench_pct(late.us, res->samples, 99);
	res->max = res->samples ? late.us[res->samples - 1] : 0;
	free(late.us);
	late.us = NULL;
	late.cap = 0;
}

struct idle_result {
	unsigned vms;
	double seconds, cpu_pct, host_pct, dispatches;
};

static uint64_t rusage_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

static uint64_t dispatches(const struct bench *b)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < b->nworkers; i++)
		n += __atomic_load_n(&b->workers[i].stats.runs, __ATOMIC_RELAXED);
	return n;
}

/* CPU of this process (every thread, the VMs' kernel threads included) over
 * `seconds` with every VM idle, as a share of one core. */
static void bench_idle(struct bench *b, unsigned vms, unsigned seconds, struct idle_result *r)
{
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t c0, c1, t0, t1, d0, d1;
	long long h0, h1;

	sleep_ns(500000000ull); /* let the last starts settle */
	t0 = vm_now_ns();
	c0 = rusage_ns();
	h0 = host_busy_ticks();
	d0 = dispatches(b);
	sleep_ns((uint64_t)seconds * 1000000000ull);
	t1 = vm_now_ns();
	c1 = rusage_ns();
	h1 = host_busy_ticks();
	d1 = dispatches(b);
	r->vms = vms;
	r->seconds = (double)(t1 - t0) / 1e9;
	r->cpu_pct = 100.0 * (double)(c1 - c0) / (double)(t1 - t0);
	r->host_pct = hz > 0 ? 100.0 * (double)(h1 - h0) / (double)hz / r->seconds : -1;
	r->dispatches = (double)(d1 - d0);
}

/* Stops every VM still live and waits for the workers to release them. */
static double teardown(struct bench *b)
{
	uint64_t t0 = vm_now_ns();
	unsigned want = 0;

	for (unsigned i = 0; i < b->n; i++) {
		struct dvm *v = b->vms[i];
		int done;

		pthread_mutex_lock(&pop.lock);
		done = v->done;
		pthread_mutex_unlock(&pop.lock);
		if (done)
			continue;
		v->stopping = 1;
		want++;
		worker_send(v->w, WCMD_STOP, &v->task);
	}
	pthread_mutex_lock(&pop.lock);
	while (pop.done < b->n)
		pthread_cond_wait(&pop.cond, &pop.lock);
	pthread_mutex_unlock(&pop.lock);
	(void)want;
	return (double)(vm_now_ns() - t0) / 1e9;
}

/*
 * A population of n grown from nothing, then stopped and freed: the start
 * rate of an empty process, at the start of the run and again after the big
 * population has come and gone. Leaves b and the counters as it found them.
 */
static void start_round(struct bench *b, unsigned n, struct phase *ph)
{
	grow(b, n, ph);
	teardown(b);
	for (unsigned i = 0; i < b->n; i++)
		dvm_destroy(b->vms[i]);
	b->n = 0;
	pthread_mutex_lock(&pop.lock);
	pop.started = pop.killed = pop.done = 0;
	pop.last_start_ns = 0;
	pthread_mutex_unlock(&pop.lock);
}

/* ---- what a host without the open-file limit would get -------------------- */

struct nofd {
	double per_vm_bytes, mem_cap, pid_cap, threads_cap, maps_cap, estimate;
	const char *bound_by;
	long mem_avail_kib, pid_max, threads_max, max_map_count;
};

static void nofd_estimate(const struct memsnap *base, const struct memcost *c, struct nofd *e)
{
	double caps[4];
	static const char *const names[4] = {"memory", "pid_max", "threads-max",
					     "vm.max_map_count"};

	memset(e, 0, sizeof(*e));
	e->mem_avail_kib = base->mi[MI_AVAIL];
	e->pid_max = sysctl_long("/proc/sys/kernel/pid_max");
	e->threads_max = sysctl_long("/proc/sys/kernel/threads-max");
	e->max_map_count = sysctl_long("/proc/sys/vm/max_map_count");
	e->per_vm_bytes =
	    c->user_anon + c->user_file + (c->kernel_free > c->kernel ? c->kernel_free : c->kernel);
	caps[0] = e->mem_cap =
	    e->per_vm_bytes > 0 ? (double)e->mem_avail_kib * 1024 / e->per_vm_bytes : 1e9;
	/* A pid is needed for every thread on the host, ours and everyone's. */
	caps[1] = e->pid_cap = c->threads > 0.5 ? (double)(e->pid_max - 1000) / c->threads : 1e9;
	caps[2] = e->threads_cap =
	    c->threads > 0.5 ? (double)(e->threads_max - 1000) / c->threads : 1e9;
	caps[3] = e->maps_cap =
	    c->maps > 0 ? (double)(e->max_map_count - base->maps) / c->maps : 1e9;
	e->estimate = caps[0];
	e->bound_by = names[0];
	for (int i = 1; i < 4; i++) {
		if (caps[i] < e->estimate) {
			e->estimate = caps[i];
			e->bound_by = names[i];
		}
	}
}

/* ---- options, environment ------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: denali-bench-density [--max N] [--idle-seconds S] [--wakes N]\n"
		   "                            [--wake-vms N] [--rounds N] [--switch-seconds S]\n"
		   "                            [--workers N] [--no-teardown] [--image PATH]\n"
		   "  --max             stop growing at N live VMs (default: until refused)\n"
		   "  --idle-seconds    all-idle CPU window (30)\n"
		   "  --wakes           wake-ups, one per ms, for the lateness figure (5000)\n"
		   "  --wake-vms        sleepers the wake-ups pick from (5000)\n"
		   "  --rounds          switch-cost rounds (5)\n"
		   "  --switch-seconds  measured window of each two-spinner run (1.0)\n"
		   "  --workers         worker threads (default: one per online CPU)\n"
		   "  --no-teardown     leave the VMs to process exit (no teardown figure)\n"
		   "  --image           the bench-density guest (default: next to this binary)\n");
}

static void parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"max", required_argument, NULL, 'm'},
	    {"idle-seconds", required_argument, NULL, 'i'},
	    {"wakes", required_argument, NULL, 'k'},
	    {"wake-vms", required_argument, NULL, 'v'},
	    {"rounds", required_argument, NULL, 'r'},
	    {"switch-seconds", required_argument, NULL, 's'},
	    {"workers", required_argument, NULL, 'w'},
	    {"no-teardown", no_argument, NULL, 'T'},
	    {"image", required_argument, NULL, 'I'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char *end;
	int c;

	*o = (struct opts){0, 30, 5000, 5000, 5, 1.0, 0, 1, NULL};
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'm':
			o->max = bench_arg_uint(optarg, 1, 1000000);
			break;
		case 'i':
			o->idle_seconds = bench_arg_uint(optarg, 1, 3600);
			break;
		case 'k':
			o->wakes = bench_arg_uint(optarg, 1, 1000000);
			break;
		case 'v':
			o->wake_vms = bench_arg_uint(optarg, 1, 1000000);
			break;
		case 'r':
			o->rounds = bench_arg_uint(optarg, 1, MAX_ROUND);
			break;
		case 's':
			o->switch_seconds = strtod(optarg, &end);
			if (*end || o->switch_seconds < 0.1 || o->switch_seconds > 60) {
				fprintf(stderr,
					"denali-bench-density: --switch-seconds %s: want "
					"0.1..60\n",
					optarg);
				exit(2);
			}
			break;
		case 'w':
			o->workers = bench_arg_uint(optarg, 1, 256);
			break;
		case 'T':
			o->teardown = 0;
			break;
		case 'I':
			o->image = optarg;
			break;
		case 'h':
			bench_usage_exit(usage, 0);
		default:
			bench_usage_exit(usage, 2);
		}
	}
	if (optind != argc)
		bench_usage_exit(usage, 2);
}

/* Root and /dev/kvm, or exit 77; the open-file limit raised to its hard
 * limit. Returns that limit. */
static unsigned long check_env(void)
{
	bench_check_env("thousands of KVM VMs, /proc/meminfo deltas");
	return bench_nofile_raise();
}

/* ---- report --------------------------------------------------------------- */

static double rate(const struct phase *ph)
{
	return ph->seconds > 0 ? (ph->to - ph->from) / ph->seconds : 0;
}

static void print_memcost(const char *what, const struct memcost *c)
{
	printf("memory %s, per live VM (%u VMs): user RssAnon %.0f B, RssFile %.0f B; "
	       "kernel %.0f B (MemFree drop - RssAnon) / %.0f B (counters: Slab %.0f, "
	       "KernelStack %.0f, PageTables %.0f, SecPageTables %.0f, VmallocUsed %.0f, "
	       "Percpu %.0f); %.2f threads, %.2f maps, %.2f fds\n",
	       what, c->vms, c->user_anon, c->user_file, c->kernel_free, c->kernel, c->mi[MI_SLAB],
	       c->mi[MI_KSTACK], c->mi[MI_PTABLES], c->mi[MI_SECPT], c->mi[MI_VMALLOC],
	       c->mi[MI_PERCPU], c->threads, c->maps, c->fds);
}

static void json_memcost(const char *key, const struct memcost *c)
{
	printf("\"%s\":{\"vms\":%u,\"user_rss_anon\":%.0f,\"user_rss_file\":%.0f,"
	       "\"kernel_from_memfree\":%.0f,\"kernel_counters\":%.0f,\"slab\":%.0f,"
	       "\"kernel_stack\":%.0f,\"page_tables\":%.0f,\"sec_page_tables\":%.0f,"
	       "\"vmalloc\":%.0f,\"percpu\":%.0f,\"threads\":%.2f,\"maps\":%.2f,\"fds\":%.2f},",
	       key, c->vms, c->user_anon, c->user_file, c->kernel_free, c->kernel, c->mi[MI_SLAB],
	       c->mi[MI_KSTACK], c->mi[MI_PTABLES], c->mi[MI_SECPT], c->mi[MI_VMALLOC],
	       c->mi[MI_PERCPU], c->threads, c->maps, c->fds);
}

static void json_phase(const char *key, const struct phase *ph)
{
	printf("\"%s\":{\"from\":%u,\"to\":%u,\"seconds\":%.3f,\"vms_per_s\":%.0f},", key, ph->from,
	       ph->to, ph->seconds, rate(ph));
}

static const char *json_bool(int b)
{
	return b ? "true" : "false";
}

/* A string for JSON: quotes and backslashes dropped, control bytes blanked. */
static void json_clean(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			continue;
		*d++ = (unsigned char)*s < 0x20 ? ' ' : *s;
	}
	*d = 0;
}

int main(int argc, char **argv)
{
	static struct switch_result sw;
	struct phase ph1 = {0}, ph5 = {0}, phm = {0}, ph_first = {0}, ph_after = {0};
	struct memsnap base, at5, atmax;
	struct memcost c5, cmax;
	struct wake_result wk = {0};
	struct idle_result idle = {0};
	struct nofd nf;
	struct bench b = {0};
	struct bench_image img;
	struct opts o;
	unsigned long nofile;
	struct probe pr[4] = {{0}};
	int spare[2];
	double down = -1;
	unsigned live, refused, small;
	char stop_reason[300];
	int rc;

	bench_set_name("denali-bench-density");
	parse(argc, argv, &o);
	nofile = check_env();
	/* --image, else ../guests/bench-density beside the binary, else the
	 * build tree's path. */
	bench_load_image(o.image, "bench-density", BENCH_GUEST, &img);
	setvbuf(stdout, NULL, _IOLBF, 0);
	proc_open();
	if (kvm_open())
		bench_fail("kvm_open failed");
	if (worker_signals_init())
		bench_fail("worker_signals_init failed");
	/* A stopped VM's shell is destroyed, not pooled: no fds held beyond the
	 * live VMs'. */
	shell_pool_set_max(0);
	if (!o.workers) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		o.workers = n > 0 ? (unsigned)n : 1;
	}
	printf("denali-bench-density: %u workers, open-file limit %lu, pid_max %ld, "
	       "max_map_count %ld\n",
	       o.workers, nofile, sysctl_long("/proc/sys/kernel/pid_max"),
	       sysctl_long("/proc/sys/vm/max_map_count"));

	b.o = &o;
	b.img = &img;
	b.nworkers = o.workers;
	b.cap = o.max ? o.max : (unsigned)(nofile / 2 + 1024);
	b.vms = calloc(b.cap, sizeof(*b.vms));
	b.workers = calloc(b.nworkers, sizeof(*b.workers));
	if (!b.vms || !b.workers)
		bench_fail("out of memory");
	for (unsigned i = 0; i < b.nworkers; i++) {
		rc = worker_start(&b.workers[i], (int)i, 5 * QUANTUM_NS, on_done, &pop);
		if (rc)
			bench_fail("worker %u: %s", i, strerror(-rc));
		worker_set_idle_hook(&b.workers[i], on_idle, NULL);
	}
	/* The start rate first, into an empty process (before anything else ran in it). */
	small = b.cap < 1000 ? b.cap : 1000;
	start_round(&b, small, &ph_first);
	print_phase("first", &ph_first);
	bench_switch(&o, &img, &sw);
	sleep_ns(200000000ull);
	mem_snap(&base);
	probe_costs(&img, 0, &pr[0]);

	grow(&b, small, &ph1);
	print_phase("1k", &ph1);
	probe_costs(&img, pop.started, &pr[1]);
	if (b.cap > small && !pop.killed && !b.create_failed) {
		grow(&b, b.cap < 5000 ? b.cap : 5000, &ph5);
		print_phase("5k", &ph5);
	}
	sleep_ns(300000000ull);
	mem_snap(&at5);
	mem_cost(&base, &at5, pop.started, &c5);
	print_memcost("at 5k", &c5);
	probe_costs(&img, pop.started, &pr[2]);

	bench_wake(&b, o.wake_vms < pop.started ? o.wake_vms : pop.started, o.wakes, &wk);
	printf("wake: %u of %u sampled, %u sleepers: lateness p50 %.1f us, p99 %.1f us, max %.1f "
	       "us, mean %.1f us\n",
	       wk.samples, wk.posted, wk.vms, wk.p50, wk.p99, wk.max, wk.mean);

	/* Two fds kept back, so that the probe can still make a shell at the wall. */
	spare[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	spare[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (b.n < b.cap && !pop.killed && !b.create_failed) {
		grow(&b, b.cap, &phm);
		print_phase("max", &phm);
	}
	close(spare[0]);
	close(spare[1]);
	live = pop.started;
	refused = pop.killed;
	if (pop.killed)
		snprintf(stop_reason, sizeof(stop_reason), "a VM got no shell: %s", pop.reason);
	else if (b.create_failed)
		snprintf(stop_reason, sizeof(stop_reason), "vm_create failed: %s", b.create_err);
	else
		snprintf(stop_reason, sizeof(stop_reason), "reached --max %u", o.max);
	json_clean(stop_reason);
	printf("max: %u live VMs (%u refused); stopped because %s\n", live, refused, stop_reason);
	sleep_ns(300000000ull);
	mem_snap(&atmax);
	mem_cost(&base, &atmax, live, &cmax);
	print_memcost("at max", &cmax);
	probe_costs(&img, live, &pr[3]);

	bench_idle(&b, live, o.idle_seconds, &idle);
	printf("idle: %u VMs for %.1f s: %.3f%% of one core (this process), %.0f dispatches; "
	       "host, all processes: %.1f%% of one core\n",
	       idle.vms, idle.seconds, idle.cpu_pct, idle.dispatches, idle.host_pct);

	nofd_estimate(&base, &cmax, &nf);
	printf("without the open-file limit: ~%.0f live VMs, bound by %s (memory %.0f at %.0f "
	       "B/VM of %ld MiB available; pid_max %.0f; threads-max %.0f; max_map_count %.0f)\n",
	       nf.estimate, nf.bound_by, nf.mem_cap, nf.per_vm_bytes, nf.mem_avail_kib / 1024,
	       nf.pid_cap, nf.threads_cap, nf.maps_cap);

	if (o.teardown) {
		down = teardown(&b);
		printf("teardown: %u VMs stopped and their shells destroyed in %.2f s\n", live,
		       down);
		for (unsigned i = 0; i < b.n; i++)
			dvm_destroy(b.vms[i]);
		b.n = 0;
		pthread_mutex_lock(&pop.lock);
		pop.started = pop.killed = pop.done = 0;
		pthread_mutex_unlock(&pop.lock);
		/* ... and the start rate again, after the big population has gone. */
		start_round(&b, small, &ph_after);
		print_phase("after", &ph_after);
		for (unsigned i = 0; i < b.nworkers; i++)
			worker_stop(&b.workers[i]);
	}

	double dn = sw_med(&sw, SIDE_DENALI, SW_LOST), raw = sw_med(&sw, SIDE_RAW, SW_LOST);
	double start5 = ph1.seconds + ph5.seconds;
	/* the slowest of the 0 -> 1,000 starts: first thing, after the switch rounds, after
	 * the teardown (when it ran) */
	double min1k = rate(&ph_first) < rate(&ph1) ? rate(&ph_first) : rate(&ph1);

	if (ph_after.to && rate(&ph_after) < min1k)
		min1k = rate(&ph_after);
	double rate5 = start5 > 0 ? (ph5.to ? ph5.to : ph1.to) / start5 : 0;

	printf("summary: switch %.1f us (denali) vs %.1f us (raw KVM) = %.2fx; start %.0f VMs/s "
	       "to %u; %u live; idle %.3f%% of a core; wake p99 %.1f us\n",
	       dn, raw, raw > 0 ? dn / raw : 0, rate5, ph5.to ? ph5.to : ph1.to, live, idle.cpu_pct,
	       wk.p99);
	printf("{\"bench\":\"density\",\"workers\":%u,\"nofile_limit\":%lu,", o.workers, nofile);
	printf("\"start\":{");
	json_phase("1k", &ph1);
	json_phase("5k", &ph5);
	json_phase("max", &phm);
	json_phase("first_1k", &ph_first);
	json_phase("after_1k", &ph_after);
	printf("\"to_5k_vms_per_s\":%.0f,\"min_1k_vms_per_s\":%.0f},", rate5, min1k);
	printf("\"max_live\":%u,\"refused\":%u,\"stop_reason\":\"%s\",", live, refused,
	       stop_reason);
	printf("\"mem_per_vm_bytes\":{");
	json_memcost("at_5k", &c5);
	json_memcost("at_max", &cmax);
	printf("\"base_mem_available_kib\":%ld},", base.mi[MI_AVAIL]);
	printf("\"idle\":{\"vms\":%u,\"seconds\":%.1f,\"cpu_pct_one_core\":%.4f,"
	       "\"dispatches\":%.0f,\"host_cpu_pct_one_core\":%.2f},",
	       idle.vms, idle.seconds, idle.cpu_pct, idle.dispatches, idle.host_pct);
	printf("\"wake\":{\"vms\":%u,\"posted\":%u,\"samples\":%u,\"period_us\":%.0f,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f},",
	       wk.vms, wk.posted, wk.samples, WAKE_PERIOD_NS / 1e3, wk.p50, wk.p99, wk.max,
	       wk.mean);
	printf("\"switch\":{\"quantum_ms\":%.0f,\"rounds\":%u,\"seconds\":%.1f,"
	       "\"denali_us\":%.2f,\"raw_us\":%.2f,\"ratio\":%.2f,\"raw_one_vm_tick_us\":%.2f,"
	       "\"denali_outside_run_us\":%.2f,\"raw_outside_run_us\":%.2f,"
	       "\"denali_switches_per_s\":%.0f,\"raw_switches_per_s\":%.0f,"
	       "\"floor_pct\":{\"denali\":%.3f,\"raw\":%.3f}},",
	       QUANTUM_NS / 1e6, sw.rounds, o.switch_seconds, dn, raw, raw > 0 ? dn / raw : 0,
	       sw_med(&sw, SIDE_RAW_TICK, SW_LOST), sw_med(&sw, SIDE_DENALI, SW_OUTSIDE),
	       sw_med(&sw, SIDE_RAW, SW_OUTSIDE), sw_med(&sw, SIDE_DENALI, SW_PER_S),
	       sw_med(&sw, SIDE_RAW, SW_PER_S), sw_med(&sw, SIDE_DENALI, SW_FLOOR),
	       sw_med(&sw, SIDE_RAW, SW_FLOOR));
	printf("\"probes\":[");
	for (int k = 0; k < 4; k++)
		printf("%s{\"vms\":%u,\"vm_create_us\":%.1f,\"shell_create_us\":%.1f,"
		       "\"shell_destroy_us\":%.1f,\"munmap_us\":%.1f}",
		       k ? "," : "", pr[k].vms, pr[k].vm_create_us, pr[k].shell_create_us,
		       pr[k].shell_destroy_us, pr[k].munmap_us);
	printf("],");
	printf("\"teardown_s\":%.2f,", down);
	printf("\"no_fd_limit\":{\"estimate_vms\":%.0f,\"bound_by\":\"%s\",\"per_vm_bytes\":%.0f,"
	       "\"memory_cap\":%.0f,\"pid_max_cap\":%.0f,\"threads_max_cap\":%.0f,"
	       "\"max_map_count_cap\":%.0f},",
	       nf.estimate, nf.bound_by, nf.per_vm_bytes, nf.mem_cap, nf.pid_cap, nf.threads_cap,
	       nf.maps_cap);
	printf("\"targets\":{\"live_ge_9000\":%s,\"starts_per_s_ge_2000\":%s,"
	       "\"starts_per_s_ge_2000_to_1k\":%s,"
	       "\"idle_cpu_lt_1pct\":%s,\"wake_p99_lt_1ms_at_5k\":%s}}\n",
	       json_bool(live >= 9000), json_bool(rate5 >= 2000), json_bool(min1k >= 2000),
	       json_bool(idle.cpu_pct < 1.0),
	       json_bool(wk.vms >= 5000 && wk.samples > 0 && wk.p99 < 1000));
	free(img.elf);
	fflush(stdout);
	if (!o.teardown)
		_exit(0);
	free(b.vms);
	free(b.workers);
	return 0;
}
