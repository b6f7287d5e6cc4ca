/* Subcommands of denalid. */
#ifndef DENALI_CMD_DENALID_H
#define DENALI_CMD_DENALID_H

#include <stdint.h>

int denalid_run(int argc, char **argv);

#endif
