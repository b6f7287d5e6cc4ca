/*
 * Who asked for a VM, and what that client may make the daemon open for it.
 *
 * The daemon runs as root (without capabilities) and opens the image and the
 * disk a start request names. Without a check, any member of the control
 * socket's group could have a guest read or overwrite any file root owns
 * (a disk of /etc/shadow, read-only or not). So every path a client names is
 * opened by the daemon and the opened file (not the path: no race with a
 * symlink swapped in between) is checked against the client's credentials
 * from SO_PEERCRED and SO_PEERGROUPS, with the mode bits as the kernel would
 * check them for that user. The owner is kept in the VM's definition, so a
 * restart checks again with the same credentials.
 *
 * Not emulated: ACLs (a file reachable only through an ACL entry is refused)
 * and search permission on the directories leading to the file.
 */
#ifndef DENALI_CTL_OWNER_H
#define DENALI_CTL_OWNER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_OWNER_GROUPS_MAX 64u

struct ctl_owner {
	int set; /* 0: nobody to check for (denalid run, definitions from before owners) */
	uint32_t uid, gid;
	uint32_t ngroups;
	uint32_t groups[CTL_OWNER_GROUPS_MAX];
};

/* The peer of a connected Unix socket. 0 or -errno (then *o is left unset: checks refuse). */
int ctl_owner_from_socket(int fd, struct ctl_owner *o);

/* 1 if o is allowed anything the daemon itself may do (unset, root, or the daemon's uid). */
int ctl_owner_is_trusted(const struct ctl_owner *o);

/* Checks an opened file against o: 0, or -EACCES with "WHAT PATH: ..." in err. */
int ctl_owner_check_fd(const struct ctl_owner *o, int fd, int want_write, const char *what,
		       const char *path, char *err, size_t errlen);

/* The owner as a JSON object for a definition (new reference), NULL when unset. */
json_t *ctl_owner_to_json(const struct ctl_owner *o);

/* Reads what ctl_owner_to_json wrote; v NULL or JSON null gives an unset owner. 0 or -EINVAL. */
int ctl_owner_from_json(json_t *v, struct ctl_owner *o);

#endif
