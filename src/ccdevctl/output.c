/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The human renderings of output.h: the device table, Name=value, status,
 * the lease and dma-buf tables. */
#include "output.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "ctl.h"

enum { COL_ADDRESS, COL_IDS, COL_CLASS, COL_DRIVER, COL_STATE, COL_GROUP, COL_VFIO, N_COLUMNS };

static const char *const column_headers[N_COLUMNS] = {
	[COL_ADDRESS] = "ADDRESS",
	[COL_IDS] = "VENDOR:DEVICE",
	[COL_CLASS] = "CLASS",
	[COL_DRIVER] = "DRIVER",
	[COL_STATE] = "STATE",
	[COL_GROUP] = "GROUP",
	[COL_VFIO] = "VFIO",
};

/* One table row: the cells point into d or into the row's own buffers. */
struct row {
	const char *cell[N_COLUMNS];
	char ids[sizeof("ffff:ffff")];
	char class_code[sizeof("ffffff")];
	char group[sizeof("-2147483648")];
};

static const char *dash_if_empty(const char *s)
{
	return s && *s ? s : "-";
}

static void row_fill(struct row *row, const struct device_info *d)
{
	snprintf(row->ids, sizeof(row->ids), "%04x:%04x", d->vendor_id, d->device_id);
	snprintf(row->class_code, sizeof(row->class_code), "%06x", d->class_code & 0xffffff);
	if (d->iommu_group < 0)
		strcpy(row->group, "-");
	else
		snprintf(row->group, sizeof(row->group), "%" PRIi32, d->iommu_group);

	row->cell[COL_ADDRESS] = d->address;
	row->cell[COL_IDS] = row->ids;
	row->cell[COL_CLASS] = row->class_code;
	row->cell[COL_DRIVER] = dash_if_empty(d->driver);
	row->cell[COL_STATE] = dash_if_empty(d->state);
	row->cell[COL_GROUP] = row->group;
	row->cell[COL_VFIO] = dash_if_empty(d->vfio_device);
}

/* Cells left-aligned, two spaces apart, no trailing blanks. */
static void print_row(const char *const *cell, const size_t *width, int n_columns)
{
	for (int c = 0; c < n_columns; c++) {
		if (c == n_columns - 1)
			printf("%s\n", cell[c]);
		else
			printf("%-*s  ", (int)width[c], cell[c]);
	}
}

int output_device_table(const struct device_list *l, bool legend)
{
	_cleanup_free_ struct row *rows = NULL;
	size_t width[N_COLUMNS];

	/* Like systemctl: an empty list has no header, only the count. */
	if (l->n == 0) {
		if (legend)
			printf("0 devices listed.\n");
		return 0;
	}

	rows = calloc(l->n, sizeof(*rows));
	if (!rows)
		return ctl_error_errno(ENOMEM, "Out of memory.");
	for (int c = 0; c < N_COLUMNS; c++)
		width[c] = legend ? strlen(column_headers[c]) : 0;
	for (size_t i = 0; i < l->n; i++) {
		row_fill(&rows[i], &l->items[i]);
		for (int c = 0; c < N_COLUMNS; c++) {
			size_t w = strlen(rows[i].cell[c]);

			if (w > width[c])
				width[c] = w;
		}
	}

	if (legend)
		print_row(column_headers, width, N_COLUMNS);
	for (size_t i = 0; i < l->n; i++)
		print_row(rows[i].cell, width, N_COLUMNS);
	if (legend)
		printf("\n%zu device%s listed.\n", l->n, l->n == 1 ? "" : "s");
	return 0;
}

/* Digits of hex for the PCI id properties, 0 for a decimal one. */
static int hex_width(const char *name)
{
	if (strcmp(name, "VendorId") == 0 || strcmp(name, "DeviceId") == 0)
		return 4;
	if (strcmp(name, "Class") == 0)
		return 6;
	return 0;
}

static bool type_is_printable(char t)
{
	return t && strchr("ybnqiuxtdsog", t); /* basic types but 'h' (an fd) */
}

static int print_basic(sd_bus_message *m, char type, int hex)
{
	union {
		uint8_t y;
		int b;
		int16_t n;
		uint16_t q;
		int32_t i;
		uint32_t u;
		int64_t x;
		uint64_t t;
		double d;
		const char *s;
	} v;
	uint64_t u;
	int r;

	r = sd_bus_message_read_basic(m, type, &v);
	if (r <= 0)
		return r;
	switch (type) {
	case 's': case 'o': case 'g':
		fputs(v.s, stdout);
		return 1;
	case 'b':
		fputs(v.b ? "yes" : "no", stdout);
		return 1;
	case 'd':
		printf("%g", v.d);
		return 1;
	case 'n':
		printf("%" PRIi16, v.n);
		return 1;
	case 'i':
		printf("%" PRIi32, v.i);
		return 1;
	case 'x':
		printf("%" PRIi64, v.x);
		return 1;
	}
	u = type == 'y' ? v.y : type == 'q' ? v.q : type == 'u' ? v.u : v.t;
	if (hex)
		printf("0x%0*" PRIx64, hex, u);
	else
		printf("%" PRIu64, u);
	return 1;
}

/* The variant at m's position, printed as NAME=value if it is a basic type
 * or an array of one, else skipped (like systemctl show without --all). */
static int print_property(sd_bus_message *m, const char *name)
{
	const char *contents;
	bool array;
	char type;
	int r;

	r = sd_bus_message_peek_type(m, &type, &contents);
	if (r < 0)
		return r;
	array = contents[0] == SD_BUS_TYPE_ARRAY;
	if (!type_is_printable(contents[array]) || contents[array + 1] != '\0')
		return sd_bus_message_skip(m, "v");

	r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, contents);
	if (r < 0)
		return r;
	printf("%s=", name);
	if (array) {
		bool first = true;

		r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, contents + 1);
		while (r >= 0 && (r = sd_bus_message_at_end(m, false)) == 0) {
			if (!first)
				fputc(' ', stdout);
			first = false;
			r = print_basic(m, contents[1], hex_width(name));
		}
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
	} else
		r = print_basic(m, contents[0], hex_width(name));
	fputc('\n', stdout);
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

int output_properties(sd_bus_message *m)
{
	const char *name;
	int r;

	r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
	while (r >= 0 && (r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv")) > 0) {
		r = sd_bus_message_read_basic(m, 's', &name);
		if (r >= 0)
			r = print_property(m, name);
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
	}
	if (r >= 0)
		r = sd_bus_message_exit_container(m);
	if (r < 0)
		return ctl_unclassified(ctl_error_errno(r, "Failed to parse the properties sent by ccdevd: %m"));
	return 0;
}

static void print_strv(char **l)
{
	if (!l || !*l) {
		fputs("-", stdout);
		return;
	}
	STRV_FOREACH(s, l)
		printf("%s%s", s == l ? "" : " ", *s);
}

int output_manager(const struct manager_info *m)
{
	printf("        Version: %s\n", m->version);
	fputs("Kernel features: ", stdout);
	print_strv(m->kernel_features);
	printf("\n"
	       "        Devices: %" PRIu32 "\n"
	       "         Leases: %" PRIu32 " (%" PRIu32 " re-adopted at start)\n"
	       "         Config: %s\n"
	       "%s%s\n"
	       "            PID: %ld\n",
	       m->device_count, m->lease_count, m->adopted_leases, dash_if_empty(m->config_path),
	       m->direct_socket ? "  Direct socket: " : "       Bus name: ",
	       m->direct_socket ? m->direct_socket : m->unique_name, (long)m->pid);
	return 0;
}

enum { LCOL_LEASE, LCOL_OWNER, LCOL_PID, LCOL_STATE, LCOL_DEVICES, N_LEASE_COLUMNS };

static const char *const lease_column_headers[N_LEASE_COLUMNS] = {
	[LCOL_LEASE] = "LEASE",
	[LCOL_OWNER] = "OWNER",
	[LCOL_PID] = "PID",
	[LCOL_STATE] = "STATE",
	[LCOL_DEVICES] = "DEVICES",
};

struct lease_row {
	const char *cell[N_LEASE_COLUMNS];
	char owner[64]; /* a user name, or the uid when it has none */
	char pid[sizeof("4294967295")];
	char devices[sizeof("4294967295")];
};

static void lease_row_fill(struct lease_row *row, const struct lease_info *e)
{
	struct passwd pw, *result = NULL;
	char buf[1024];

	if (getpwuid_r(e->owner_uid, &pw, buf, sizeof(buf), &result) == 0 && result &&
	    strlen(pw.pw_name) < sizeof(row->owner))
		strcpy(row->owner, pw.pw_name);
	else
		snprintf(row->owner, sizeof(row->owner), "%" PRIu32, e->owner_uid);
	snprintf(row->pid, sizeof(row->pid), "%" PRIu32, e->owner_pid);
	snprintf(row->devices, sizeof(row->devices), "%" PRIu32, e->device_count);

	row->cell[LCOL_LEASE] = e->path;
	row->cell[LCOL_OWNER] = row->owner;
	row->cell[LCOL_PID] = row->pid;
	row->cell[LCOL_STATE] = dash_if_empty(e->state);
	row->cell[LCOL_DEVICES] = row->devices;
}

int output_lease_table(const struct lease_list *l, bool legend)
{
	_cleanup_free_ struct lease_row *rows = NULL;
	size_t width[N_LEASE_COLUMNS];

	if (l->n == 0) {
		if (legend)
			printf("0 leases listed.\n");
		return 0;
	}

	rows = calloc(l->n, sizeof(*rows));
	if (!rows)
		return ctl_error_errno(ENOMEM, "Out of memory.");
	for (int c = 0; c < N_LEASE_COLUMNS; c++)
		width[c] = legend ? strlen(lease_column_headers[c]) : 0;
	for (size_t i = 0; i < l->n; i++) {
		lease_row_fill(&rows[i], &l->items[i]);
		for (int c = 0; c < N_LEASE_COLUMNS; c++) {
			size_t w = strlen(rows[i].cell[c]);

			if (w > width[c])
				width[c] = w;
		}
	}

	if (legend)
		print_row(lease_column_headers, width, N_LEASE_COLUMNS);
	for (size_t i = 0; i < l->n; i++)
		print_row(rows[i].cell, width, N_LEASE_COLUMNS);
	if (legend)
		printf("\n%zu lease%s listed.\n", l->n, l->n == 1 ? "" : "s");
	return 0;
}

/* The widest table of the dma-buf tables below. */
enum { MAX_COLUMNS = 7 };

/* n_rows rows of n_columns cells, cells[row * n_columns + column], each
 * column as wide as its widest cell (and header, with legend). */
static void print_table(const char *const *headers, int n_columns, const char *const *cells,
			size_t n_rows, bool legend)
{
	size_t width[MAX_COLUMNS];

	assert(n_columns <= MAX_COLUMNS);
	for (int c = 0; c < n_columns; c++)
		width[c] = legend ? strlen(headers[c]) : 0;
	for (size_t i = 0; i < n_rows; i++)
		for (int c = 0; c < n_columns; c++) {
			size_t w = strlen(cells[i * n_columns + c]);

			if (w > width[c])
				width[c] = w;
		}
	if (legend)
		print_row(headers, width, n_columns);
	for (size_t i = 0; i < n_rows; i++)
		print_row(cells + i * n_columns, width, n_columns);
}

/* A table after the one before it: an empty line, then as the lease table,
 * with "N NOUNs listed." as its footer. */
static void print_next_table(const char *const *headers, int n_columns, const char *const *cells,
			     size_t n_rows, bool legend, const char *noun)
{
	fputc('\n', stdout);
	if (n_rows == 0) {
		if (legend)
			printf("0 %ss listed.\n", noun);
		return;
	}
	print_table(headers, n_columns, cells, n_rows, legend);
	if (legend)
		printf("\n%zu %s%s listed.\n", n_rows, noun, n_rows == 1 ? "" : "s");
}

#define HEX_MAX sizeof("0xffffffffffffffff")

static void format_hex(char buf[static HEX_MAX], uint64_t v)
{
	snprintf(buf, HEX_MAX, "0x%" PRIx64, v);
}

/* The ranges of an export as OFFSET+LENGTH in 0x-hex, sep between them;
 * malloc'ed, NULL when out of memory. */
static char *ranges_format(const struct dmabuf_export *e, const char *sep)
{
	size_t size = e->n_ranges * (2 * HEX_MAX + strlen(sep)) + 1;
	char *s = malloc(size), *p = s;

	if (!s)
		return NULL;
	*s = '\0';
	for (size_t i = 0; i < e->n_ranges; i++)
		p += snprintf(p, size - (size_t)(p - s), "%s0x%" PRIx64 "+0x%" PRIx64, i ? sep : "",
			      e->ranges[i].offset, e->ranges[i].length);
	return s;
}

enum { MCOL_LEASE, MCOL_IOVA, MCOL_LENGTH, MCOL_DEVICE, MCOL_BAR, MCOL_OFFSET, MCOL_STATE, N_MAPPING_COLUMNS };

static const char *const mapping_column_headers[N_MAPPING_COLUMNS] = {
	[MCOL_LEASE] = "LEASE",
	[MCOL_IOVA] = "IOVA",
	[MCOL_LENGTH] = "LENGTH",
	[MCOL_DEVICE] = "DEVICE",
	[MCOL_BAR] = "BAR",
	[MCOL_OFFSET] = "OFFSET",
	[MCOL_STATE] = "STATE",
};

/* The numbers of one mapping row; the other cells point into the lists. */
struct mapping_numbers {
	char iova[HEX_MAX];
	char length[HEX_MAX];
	char bar[sizeof("4294967295")];
	char offset[HEX_MAX];
};

static int output_mapping_table(const struct lease_list *l, bool legend)
{
	_cleanup_free_ struct mapping_numbers *numbers = NULL;
	_cleanup_free_ const char **cells = NULL;
	size_t n = 0, i = 0;

	for (size_t k = 0; k < l->n; k++)
		n += l->items[k].dmabuf.mappings.n;
	numbers = calloc(n ? n : 1, sizeof(*numbers));
	cells = calloc(n ? n * N_MAPPING_COLUMNS : 1, sizeof(*cells));
	if (!numbers || !cells)
		return ctl_error_errno(ENOMEM, "Out of memory.");

	for (size_t k = 0; k < l->n; k++)
		for (size_t j = 0; j < l->items[k].dmabuf.mappings.n; j++, i++) {
			const struct dmabuf_mapping *m = &l->items[k].dmabuf.mappings.items[j];
			const char **row = cells + i * N_MAPPING_COLUMNS;

			format_hex(numbers[i].iova, m->iova);
			format_hex(numbers[i].length, m->length);
			snprintf(numbers[i].bar, sizeof(numbers[i].bar), "%" PRIu32, m->bar);
			format_hex(numbers[i].offset, m->offset);
			row[MCOL_LEASE] = l->items[k].path;
			row[MCOL_IOVA] = numbers[i].iova;
			row[MCOL_LENGTH] = numbers[i].length;
			row[MCOL_DEVICE] = dash_if_empty(m->device);
			row[MCOL_BAR] = numbers[i].bar;
			row[MCOL_OFFSET] = numbers[i].offset;
			row[MCOL_STATE] = dash_if_empty(m->state);
		}
	print_next_table(mapping_column_headers, N_MAPPING_COLUMNS, cells, n, legend, "dma-buf mapping");
	return 0;
}

enum { XCOL_LEASE, XCOL_DEVICE, XCOL_BAR, XCOL_RANGES, N_EXPORT_COLUMNS };

static const char *const export_column_headers[N_EXPORT_COLUMNS] = {
	[XCOL_LEASE] = "LEASE",
	[XCOL_DEVICE] = "DEVICE",
	[XCOL_BAR] = "BAR",
	[XCOL_RANGES] = "RANGES",
};

/* The strings of the export table's rows: n of them, each with its own
 * ranges (NULL until formatted). */
struct export_strings {
	struct {
		char bar[sizeof("4294967295")];
		char *ranges;
	} *items;
	size_t n;
};

static void export_strings_done(struct export_strings *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->items[i].ranges);
	free(s->items);
	*s = (struct export_strings){};
}

static int output_export_table(const struct lease_list *l, bool legend)
{
	_cleanup_(export_strings_done) struct export_strings strings = {};
	_cleanup_free_ const char **cells = NULL;
	size_t n = 0, i = 0;

	for (size_t k = 0; k < l->n; k++)
		n += l->items[k].dmabuf.exports.n;
	strings.items = calloc(n ? n : 1, sizeof(*strings.items));
	cells = calloc(n ? n * N_EXPORT_COLUMNS : 1, sizeof(*cells));
	if (!strings.items || !cells)
		return ctl_error_errno(ENOMEM, "Out of memory.");
	strings.n = n;

	for (size_t k = 0; k < l->n; k++)
		for (size_t j = 0; j < l->items[k].dmabuf.exports.n; j++, i++) {
			const struct dmabuf_export *e = &l->items[k].dmabuf.exports.items[j];
			const char **row = cells + i * N_EXPORT_COLUMNS;

			snprintf(strings.items[i].bar, sizeof(strings.items[i].bar), "%" PRIu32, e->bar);
			strings.items[i].ranges = ranges_format(e, ",");
			if (!strings.items[i].ranges)
				return ctl_error_errno(ENOMEM, "Out of memory.");
			row[XCOL_LEASE] = l->items[k].path;
			row[XCOL_DEVICE] = dash_if_empty(e->device);
			row[XCOL_BAR] = strings.items[i].bar;
			row[XCOL_RANGES] = dash_if_empty(strings.items[i].ranges);
		}
	print_next_table(export_column_headers, N_EXPORT_COLUMNS, cells, n, legend, "dma-buf export");
	return 0;
}

int output_lease_dmabuf_tables(const struct lease_list *l, bool legend)
{
	int r;

	r = output_mapping_table(l, legend);
	if (r < 0)
		return r;
	return output_export_table(l, legend);
}

int output_device_dmabuf(const struct lease_list *l, const char *address,
			 const struct lease_info *exporting)
{
	for (size_t j = 0; exporting && j < exporting->dmabuf.exports.n; j++) {
		const struct dmabuf_export *e = &exporting->dmabuf.exports.items[j];
		_cleanup_free_ char *ranges = NULL;

		if (!e->device || strcmp(e->device, address) != 0)
			continue;
		ranges = ranges_format(e, " ");
		if (!ranges)
			return ctl_error_errno(ENOMEM, "Out of memory.");
		printf("DmaBufExport={ bar=%" PRIu32 " ; ranges=%s }\n", e->bar, ranges);
	}

	for (size_t k = 0; k < l->n; k++)
		for (size_t j = 0; j < l->items[k].dmabuf.mappings.n; j++) {
			const struct dmabuf_mapping *m = &l->items[k].dmabuf.mappings.items[j];

			if (!m->device || strcmp(m->device, address) != 0)
				continue;
			printf("DmaBufMapping={ lease=%s ; iova=0x%" PRIx64 " ; length=0x%" PRIx64
			       " ; bar=%" PRIu32 " ; offset=0x%" PRIx64 " ; state=%s }\n",
			       l->items[k].path, m->iova, m->length, m->bar, m->offset, m->state);
		}
	return 0;
}

int output_lease(const struct lease *l)
{
	printf("  Lease: %s\n"
	       "iommufd: fd %d, IOAS %" PRIu32 "\n",
	       l->path, l->iommufd, l->ioas_id);
	for (size_t i = 0; i < l->n_devices; i++)
		printf(" Device: %s fd %d, dev_id %" PRIu32 ", pt_id %" PRIu32 "\n",
		       l->devices[i].address, l->devices[i].fd, l->devices[i].dev_id,
		       l->devices[i].pt_id);
	return 0;
}

int output_killed(const struct killed_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		printf("killed %" PRIu32 " %s\n", l->items[i].pid, l->items[i].command);
	return 0;
}

int output_bound(uint32_t dev_id, uint32_t pt_id)
{
	printf("dev_id %" PRIu32 " pt_id %" PRIu32 "\n", dev_id, pt_id);
	return 0;
}
