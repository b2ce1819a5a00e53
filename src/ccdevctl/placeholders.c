/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "placeholders.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdf.h"
#include "cleanup.h"

/* The device of v whose address is the one at s (n chars), or NULL. */
static const struct placeholder_device *device_find(const struct placeholder_values *v,
						    const char *s, size_t n)
{
	char buf[BDF_STRING_MAX];
	struct bdf want, have;

	if (n >= sizeof(buf))
		return NULL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (bdf_parse(buf, &want) < 0)
		return NULL;
	for (size_t i = 0; i < v->n_devices; i++)
		if (bdf_parse(v->devices[i].address, &have) == 0 && bdf_equal(&want, &have))
			return &v->devices[i];
	return NULL;
}

/* If name (n chars, between the braces) starts with prefix, the rest. */
static const char *after_prefix(const char *name, size_t n, const char *prefix)
{
	size_t p = strlen(prefix);

	return n >= p && memcmp(name, prefix, p) == 0 ? name + p : NULL;
}

/*
 * The value of the token name (n chars, braces excluded) into *ret.
 * Returns 1 if it is a placeholder, 0 if it is not one (left as text),
 * -EINVAL if it is a device placeholder naming no device of v.
 */
static int token_value(const char *name, size_t n, const struct placeholder_values *v,
		       int64_t *ret)
{
	static const char *const device_prefixes[] = { "fd:", "devid:", "ptid:" };
	const struct placeholder_device *d;
	const char *address;

	if (n == strlen("iommufd") && memcmp(name, "iommufd", n) == 0) {
		*ret = v->iommufd;
		return 1;
	}
	if (n == strlen("ioas") && memcmp(name, "ioas", n) == 0) {
		*ret = v->ioas_id;
		return 1;
	}
	for (size_t i = 0; i < ELEMENTSOF(device_prefixes); i++) {
		address = after_prefix(name, n, device_prefixes[i]);
		if (!address)
			continue;
		d = device_find(v, address, n - (size_t)(address - name));
		if (!d)
			return -EINVAL;
		if (i == 0)
			*ret = d->fd;
		else
			*ret = i == 1 ? d->dev_id : d->pt_id;
		return 1;
	}
	return 0;
}

int placeholders_expand(const char *arg, const struct placeholder_values *v, char **ret,
			struct placeholder_error *ret_error)
{
	_cleanup_free_ char *buf = NULL;
	size_t size = 0;
	FILE *f;
	int r = 0;

	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	for (const char *p = arg; *p && r >= 0;) {
		const char *open = strchr(p, '{'), *close;
		int64_t value;

		if (!open) {
			fputs(p, f);
			break;
		}
		fwrite(p, 1, (size_t)(open - p), f);
		close = strchr(open + 1, '}');
		r = close ? token_value(open + 1, (size_t)(close - open - 1), v, &value) : 0;
		if (r > 0) {
			fprintf(f, "%" PRIi64, value);
			p = close + 1;
		} else if (r == 0) {
			fputc('{', f); /* not a placeholder: the brace is text */
			p = open + 1;
		} else if (ret_error)
			*ret_error = (struct placeholder_error){ .offset = (size_t)(open - arg),
								 .length = (size_t)(close - open + 1) };
	}
	if (fclose(f) != 0 || !buf)
		return -ENOMEM;
	if (r < 0)
		return r;
	*ret = TAKE_PTR(buf);
	return 0;
}
