/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <systemd/sd-journal.h>

static const char *log_ident = "ccdevd";
static int log_max_level = LOG_INFO;
static bool log_journal;

/* JOURNAL_STREAM is "dev:ino" of the stream stderr was connected to. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

void log_open(const char *ident)
{
	const char *lvl = getenv("CCDEVD_LOG_LEVEL");

	log_ident = ident;
	log_journal = stderr_is_journal();
	if (lvl && strcmp(lvl, "debug") == 0)
		log_max_level = LOG_DEBUG;
}

void log_set_max_level(int level)
{
	log_max_level = level;
}

bool log_to_journal(void)
{
	return log_journal;
}

int log_meta(int level, int error, const struct log_ctx *ctx, const char *fmt, ...)
{
	int saved = errno;
	char msg[2048];
	va_list ap;

	error = error < 0 ? -error : error;
	if (level > log_max_level)
		return -error;

	/* %m means the error we were given, not the errno of the moment. */
	errno = error;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	if (log_journal) {
		sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%i", level,
				"SYSLOG_IDENTIFIER=%s", log_ident,
				"ERRNO=%i", error,
				"CCDEVD_DEVICE=%s", ctx && ctx->device ? ctx->device : "",
				"CCDEVD_LEASE=%s", ctx && ctx->lease ? ctx->lease : "",
				"CCDEVD_OP=%s", ctx && ctx->op ? ctx->op : "",
				NULL);
	} else {
		const char *dev = ctx && ctx->device ? ctx->device : NULL;
		fprintf(stderr, "%s%s%s\n", dev ? dev : "", dev ? ": " : "", msg);
	}
	errno = saved;
	return -error;
}
