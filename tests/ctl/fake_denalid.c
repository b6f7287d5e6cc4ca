/* `denalid serve` with the fake backend: the real life cycle (ctl_serve_main), no VMs. */
#include "fake_backend.h"
#include "log.h"
#include "serve.h"

#include <stdio.h>

static int fake_open(const struct serve_config *cfg, struct ctl_backend *out)
{
	log_info("fake backend: socket %s state %s workers %u", cfg->socket_path, cfg->state_dir,
		 cfg->workers);
	fake_backend_init(out);
	return 0;
}

static void fake_close(struct ctl_backend *be)
{
	struct fake_stats st;

	fake_backend_counts(be, &st);
	/* test_cli reads this line to check that shutdown stopped every VM. */
	log_info("fake backend: vms_left=%u stops=%u", fake_backend_nvms(be), st.stops);
	fake_backend_fini(be);
}

int main(int argc, char **argv)
{
	return ctl_serve_main(argc, argv, fake_open, fake_close);
}
