#include "owner.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int ctl_owner_from_socket(int fd, struct ctl_owner *o)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t groups[CTL_OWNER_GROUPS_MAX];

	memset(o, 0, sizeof(*o));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	o->uid = cred.uid;
	o->gid = cred.gid;
	len = sizeof(groups);
	/* More groups than we keep: the first ones only (a check may refuse, never allow more). */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0 || errno == ERANGE) {
		uint32_t n = len / sizeof(gid_t);

		if (n > CTL_OWNER_GROUPS_MAX)
			n = errno == ERANGE ? 0 : CTL_OWNER_GROUPS_MAX;
		for (uint32_t i = 0; i < n; i++)
			o->groups[i] = groups[i];
		o->ngroups = n;
	}
	o->set = 1;
	return 0;
}

int ctl_owner_is_trusted(const struct ctl_owner *o)
{
	return !o || !o->set || o->uid == 0 || o->uid == (uint32_t)geteuid();
}

static int in_group(const struct ctl_owner *o, uint32_t gid)
{
	if (o->gid == gid)
		return 1;
	for (uint32_t i = 0; i < o->ngroups; i++)
		if (o->groups[i] == gid)
			return 1;
	return 0;
}

int ctl_owner_check_fd(const struct ctl_owner *o, int fd, int want_write, const char *what,
		       const char *path, char *err, size_t errlen)
{
	unsigned need = want_write ? 6 : 4, bits;
	struct stat st;

	if (ctl_owner_is_trusted(o))
		return 0;
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return -errno;
	}
	if (st.st_uid == o->uid)
		bits = (st.st_mode >> 6) & 7;
	else if (in_group(o, st.st_gid))
		bits = (st.st_mode >> 3) & 7;
	else
		bits = st.st_mode & 7;
	if ((bits & need) != need) {
		snprintf(err, errlen,
			 "%s %s: permission denied: the requesting user (uid %u) may not %s it",
			 what, path, o->uid, want_write ? "read and write" : "read");
		return -EACCES;
	}
	return 0;
}

json_t *ctl_owner_to_json(const struct ctl_owner *o)
{
	json_t *g, *v;

	if (!o->set)
		return NULL;
	g = json_array();
	for (uint32_t i = 0; g && i < o->ngroups; i++)
		json_array_append_new(g, json_integer(o->groups[i]));
	v = json_pack("{s:I, s:I, s:o?}", "uid", (json_int_t)o->uid, "gid", (json_int_t)o->gid,
		      "groups", g);
	return v;
}

static int get_id(json_t *v, uint32_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > (json_int_t)UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

int ctl_owner_from_json(json_t *v, struct ctl_owner *o)
{
	json_t *g;

	memset(o, 0, sizeof(*o));
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v) || get_id(json_object_get(v, "uid"), &o->uid) ||
	    get_id(json_object_get(v, "gid"), &o->gid))
		return -EINVAL;
	g = json_object_get(v, "groups");
	if (g && (!json_is_array(g) || json_array_size(g) > CTL_OWNER_GROUPS_MAX))
		return -EINVAL;
	for (size_t i = 0; g && i < json_array_size(g); i++)
		if (get_id(json_array_get(g, i), &o->groups[o->ngroups++]))
			return -EINVAL;
	o->set = 1;
	return 0;
}
