/* Subcommands of denalid. */
#ifndef DENALI_CMD_DENALID_H
#define DENALI_CMD_DENALID_H

#include <stdint.h>

int denalid_run(int argc, char **argv);

/* "16M", "64MiB", "1G", "4096": bytes. 0 or -EINVAL. */
int parse_size(const char *s, uint64_t *out);

#endif
