/* Reading guest images from disk. */
#ifndef DENALI_CMD_IMAGE_H
#define DENALI_CMD_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define IMAGE_MAX_SIZE (64u << 20)

struct ctl_owner;

/* Reads a whole image file, if owner (NULL: anyone) may read it. 0 or -errno with a message
 * in err. */
int image_read(const char *path, const struct ctl_owner *owner, uint8_t **data, size_t *size,
	       char *err, size_t errlen);

#endif
