/* guest-libos <sys/types.h>: the few types the socket headers need. */
#ifndef DENALI_LIBOS_SYS_TYPES_H
#define DENALI_LIBOS_SYS_TYPES_H

#include <stddef.h>
#include <stdint.h>

typedef long ssize_t; /* the same typedef as <unistd.h> (C11 allows both) */
typedef uint32_t socklen_t;
typedef uint16_t sa_family_t;
typedef uint16_t in_port_t;
typedef uint32_t in_addr_t;

#endif
