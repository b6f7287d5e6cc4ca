#include "vmdev.h"

#include "owner.h"

#include "../devices/blk.h"
#include "../devices/net.h"
#include "../vmm/vm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int net_prefix_parse(const char *s, struct net_prefix *out)
{
	char buf[32], *slash, *end;
	struct in_addr a;
	long len;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = 0;
	len = strtol(slash + 1, &end, 10);
	if (*end || end == slash + 1 || len < 8 || len > 30 || inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	out->len = (int)len;
	out->mask = len ? ~0u << (32 - len) : 0;
	out->base = ntohl(a.s_addr) & out->mask;
	return 0;
}

uint32_t net_prefix_host(const struct net_prefix *p, uint64_t id)
{
	uint64_t hosts = (uint64_t)(~p->mask) - 1; /* without network and broadcast */

	if (id + 1 >= hosts)
		return 0;
	return p->base + (uint32_t)id + 1;
}

uint32_t net_prefix_gateway(const struct net_prefix *p)
{
	return p->base + 1;
}

int vmdev_add_net(struct vm *vm, struct netsw *sw, const struct net_prefix *pfx, uint16_t net,
		  char *err, size_t errlen)
{
	uint32_t addr = 0, mask = 0, gw = 0;
	struct device *d;
	uint8_t mac[6];
	int rc;

	net_mac_of_id(vm->id, mac);
	if (pfx) {
		addr = net_prefix_host(pfx, vm->id);
		if (!addr) {
			snprintf(err, errlen, "vm %s: no address left in the /%d prefix for id %lu",
				 vm->name, pfx->len, vm->id);
			return -ENOSPC;
		}
		addr = htonl(addr);
		mask = htonl(pfx->mask);
		gw = htonl(net_prefix_gateway(pfx));
	}
	rc = net_dev_create(sw, mac, net, &d);
	if (rc) {
		snprintf(err, errlen, "vm %s: switch port: %s", vm->name, strerror(-rc));
		return rc;
	}
	rc = vm_add_device(vm, d);
	if (rc) {
		d->ops->free(d);
		snprintf(err, errlen, "vm %s: too many devices", vm->name);
		return rc;
	}
	vm_set_net(vm, mac, addr, mask, gw);
	net_dev_set_ipv4(d, addr);
	return 0;
}

int vmdev_add_disk(struct vm *vm, const char *path, int flags, const struct ctl_owner *owner,
		   char *err, size_t errlen)
{
	int ro = flags & BLK_F_RO, fd = blk_dev_open(path, ro, err, errlen), rc;
	struct device *d;

	if (fd < 0)
		return fd;
	/* The opened file, not the path, is checked: a symlink swapped in meanwhile gains
	 * nothing. */
	rc = ctl_owner_check_fd(owner, fd, !ro, "disk", path, err, errlen);
	if (rc) {
		close(fd);
		return rc;
	}
	rc = blk_dev_create_fd(fd, path, flags, &d, err, errlen);
	if (rc)
		return rc;
	rc = vm_add_device(vm, d);
	if (rc) {
		d->ops->free(d);
		snprintf(err, errlen, "vm %s: too many devices", vm->name);
		return rc;
	}
	vm_set_blk(vm, blk_dev_sectors(d), ro ? DENALI_BLK_F_RDONLY : 0);
	return 0;
}

void vmdev_format_counters(struct vm *vm, char *out, size_t outlen)
{
	struct dev_counter c[DEV_COUNTERS_MAX];
	size_t off = 0;

	out[0] = 0;
	for (unsigned i = 1; i < vm->ndev; i++) {
		unsigned n = vm->dev[i]->ops->counters
				 ? vm->dev[i]->ops->counters(vm->dev[i], c, DEV_COUNTERS_MAX)
				 : 0;

		for (unsigned k = 0; k < n && off < outlen; k++) {
			int w = snprintf(out + off, outlen - off, "%s%s=%lu", off ? " " : "",
					 c[k].name, c[k].value);

			if (w < 0)
				break;
			off += (size_t)w;
		}
	}
}
