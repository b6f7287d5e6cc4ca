/*
 * Giving a VM its devices, for `denalid run` and the fleet: the NIC (its
 * MAC from the VM id, its IPv4 address from the daemon's prefix, its port
 * on the switch) and the disk.
 */
#ifndef DENALI_CMD_VMDEV_H
#define DENALI_CMD_VMDEV_H

#include <stddef.h>
#include <stdint.h>

struct ctl_owner;

struct vm;
struct netsw;

/* An IPv4 prefix: the gateway (the tap's address) is its first host, VM id
 * N gets host number N + 1. Host byte order. */
struct net_prefix {
	uint32_t base, mask;
	int len;
};

/* "198.18.0.0/16". 0 or -EINVAL. */
int net_prefix_parse(const char *s, struct net_prefix *out);

/* The address of VM id (0 if the prefix has no room) and the gateway,
 * host byte order. */
uint32_t net_prefix_host(const struct net_prefix *p, uint64_t id);
uint32_t net_prefix_gateway(const struct net_prefix *p);

/* Adds the NIC: MAC from vm->id, port on network net of sw, addresses
 * published in the vregs (pfx may be NULL: no IPv4). 0 or -errno + err. */
int vmdev_add_net(struct vm *vm, struct netsw *sw, const struct net_prefix *pfx, uint16_t net,
		  char *err, size_t errlen);

/* Adds the disk with BLK_F_* flags (devices/blk.h; 1 = read-only), if owner (NULL: anyone)
 * may open it so. 0 or -errno + err. */
int vmdev_add_disk(struct vm *vm, const char *path, int flags, const struct ctl_owner *owner,
		   char *err, size_t errlen);

/* One line "k=v k=v" of every counter of every device but the console. */
void vmdev_format_counters(struct vm *vm, char *out, size_t outlen);

#endif
