/* bench/density: /proc through files opened before the fd wall, memory costs, and what a
 * host without the open-file limit would get (density.h). */
#include "density.h"

/* ---- /proc, through files opened before the fd wall --------------------- */

const char *const mi_name[MI_N] = {"MemFree",	 "MemAvailable",  "Slab",	 "KernelStack",
				   "PageTables", "SecPageTables", "VmallocUsed", "Percpu"};

const char *const ps_name[PS_N] = {"RssAnon", "RssFile", "Threads"};

static int meminfo_fd = -1, status_fd = -1, stat_fd = -1, maps_fd = -1;
static DIR *fd_dir;

void proc_open(void)
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
long long host_busy_ticks(void)
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

long count_maps(void)
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

long count_fds(void)
{
	long n = 0;

	rewinddir(fd_dir);
	while (readdir(fd_dir))
		n++;
	return n - 3; /* ".", ".." and the directory's own fd */
}

long sysctl_long(const char *path)
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

void mem_snap(struct memsnap *s)
{
	bench_read_fields(meminfo_fd, mi_name, MI_N, s->mi);
	bench_read_fields(status_fd, ps_name, PS_N, s->ps);
	s->maps = count_maps();
	s->fds = count_fds();
}

void mem_cost(const struct memsnap *a, const struct memsnap *b, unsigned n, struct memcost *c)
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
double munmap_probe(void)
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

/* ---- what a host without the open-file limit would get -------------------- */

void nofd_estimate(const struct memsnap *base, const struct memcost *c, struct nofd *e)
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
