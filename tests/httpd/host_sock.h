/*
 * <denali/sock.h> for the httpd guest's glue (guests/httpd/main.c) built as
 * a host program for tests: Linux sockets instead of the libos stack, a
 * disk image file instead of the block device (DENALI_HTTPD_DISK), the
 * host's monotonic clock. Copied to hostinc/denali/sock.h by
 * tests/httpd/CMakeLists.txt; host_glue.c has the definitions.
 */
#ifndef DENALI_TEST_HOST_SOCK_H
#define DENALI_TEST_HOST_SOCK_H

#include <stdint.h>

/* The libos's: 0 when the network is up (always, on the host). */
int dn_net_start(void);

#endif /* DENALI_TEST_HOST_SOCK_H */
