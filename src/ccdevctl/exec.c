/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-client.h"
#include "bus-lease.h"
#include "cleanup.h"
#include "placeholders.h"
#include "strv.h"

/* The iommufd goes to this fd in the command, the devices after it. */
#define FIRST_FD 3

/* The command while it runs, as the event handlers see it. */
struct command {
	const char *name;
	pid_t pid;  /* 0 once it has exited */
	int status; /* its exit status, shell-style */
};

/* exec's fds must not land on 0-2 in the command, nor may the bus socket:
 * if ccdevctl was started with one of them closed, fill it. */
static int stdio_fill(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		if (open("/dev/null", O_RDWR) != fd) /* the lowest free number: fd */
			return ctl_error_errno(errno ? errno : EBADF, "Failed to open /dev/null as fd %d: %m", fd);
	}
	return 0;
}

/* The values the placeholders stand for; devices has room for n.  Before
 * the lease exists (l NULL) the ids are 0: the fd numbers are fixed. */
static void values_fill(struct placeholder_values *v, struct placeholder_device *devices,
			char **addresses, size_t n, const struct lease *l)
{
	*v = (struct placeholder_values){ .iommufd = FIRST_FD, .ioas_id = l ? l->ioas_id : 0,
					  .devices = devices, .n_devices = n };
	for (size_t i = 0; i < n; i++)
		devices[i] = (struct placeholder_device){
			.address = addresses[i],
			.fd = FIRST_FD + 1 + (int)i,
			.dev_id = l ? l->devices[i].dev_id : 0,
			.pt_id = l ? l->devices[i].pt_id : 0,
		};
}

/* COMMAND and its arguments, placeholders expanded, as a new strv. */
static int command_expand(char **command, const struct placeholder_values *v, char ***ret)
{
	_cleanup_strv_free_ char **l = NULL;
	size_t n = strv_length(command);
	int r;

	l = calloc(n + 1, sizeof(char *));
	if (!l)
		return ctl_error_errno(ENOMEM, "Out of memory.");
	l[0] = strdup(command[0]); /* the command itself is not expanded */
	if (!l[0])
		return ctl_error_errno(ENOMEM, "Out of memory.");
	for (size_t i = 1; i < n; i++) {
		struct placeholder_error e;

		r = placeholders_expand(command[i], v, &l[i], &e);
		if (r == -EINVAL && e.length == strlen(command[i]))
			return ctl_error_errno(EINVAL, "'%s' names no device given with --device.", command[i]);
		if (r == -EINVAL)
			return ctl_error_errno(EINVAL, "'%.*s' in argument '%s' names no device given with --device.",
					       (int)e.length, command[i] + e.offset, command[i]);
		if (r < 0)
			return ctl_error_errno(r, "Out of memory.");
	}
	*ret = TAKE_PTR(l);
	return 0;
}

/* CCDEVD_LEASE, CCDEVD_IOMMUFD, CCDEVD_IOAS_ID, CCDEVD_DEVICE_FDS, set in
 * ccdevctl itself so that the command inherits them. */
static int environment_set(const struct lease *l)
{
	_cleanup_free_ char *fds = NULL;
	char iommufd[sizeof("-2147483648")], ioas_id[sizeof("4294967295")];
	size_t size = 0;
	FILE *f;

	f = open_memstream(&fds, &size);
	if (!f)
		return ctl_error_errno(ENOMEM, "Out of memory.");
	for (size_t i = 0; i < l->n_devices; i++)
		fprintf(f, "%s%s=%zu", i ? " " : "", l->devices[i].address, FIRST_FD + 1 + i);
	if (fclose(f) != 0 || !fds)
		return ctl_error_errno(ENOMEM, "Out of memory.");

	snprintf(iommufd, sizeof(iommufd), "%d", FIRST_FD);
	snprintf(ioas_id, sizeof(ioas_id), "%" PRIu32, l->ioas_id);
	if (setenv("CCDEVD_LEASE", l->path, 1) < 0 || setenv("CCDEVD_IOMMUFD", iommufd, 1) < 0 ||
	    setenv("CCDEVD_IOAS_ID", ioas_id, 1) < 0 || setenv("CCDEVD_DEVICE_FDS", fds, 1) < 0)
		return ctl_error_errno(errno, "Failed to set the environment: %m");
	return 0;
}

/* Every fd from first up closed. */
static int close_from(int first)
{
	long max;

	if (close_range((unsigned)first, ~0U, 0) == 0)
		return 0;
	max = sysconf(_SC_OPEN_MAX); /* kernels before 5.9 */
	for (long fd = first; fd < (max > 0 ? max : 65536); fd++)
		(void)close((int)fd);
	return 0;
}

/*
 * In the child: fds[i] to FIRST_FD + i with FD_CLOEXEC cleared, every other
 * fd above stdio closed (the bus socket above all: the command must not keep
 * the lease's connection alive).  Every fd is first lifted above the target
 * range, so that no dup2() overwrites one not yet moved.  scratch has room
 * for n; nothing here allocates.
 */
static int fds_place(const int *fds, int *scratch, size_t n)
{
	int above = FIRST_FD + (int)n;

	for (size_t i = 0; i < n; i++) {
		scratch[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, above);
		if (scratch[i] < 0)
			return -errno;
	}
	for (size_t i = 0; i < n; i++)
		if (dup2(scratch[i], FIRST_FD + (int)i) < 0) /* the copy is not O_CLOEXEC */
			return -errno;
	return close_from(above); /* the scratch copies too */
}

/* The child: never returns.  126 and 127 as in a shell when COMMAND cannot
 * be run; then ccdevctl passes that status on. */
static _Noreturn void child_run(char **command, const int *fds, int *scratch, size_t n,
				const sigset_t *saved_mask, pid_t parent)
{
	int r;

	/* The lease ends when ccdevctl does, even by SIGKILL: so should the
	 * command, rather than run on with devices torn down under it. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
		_exit(126);
	r = fds_place(fds, scratch, n);
	if (r < 0) {
		ctl_error_errno(r, "Failed to place the fds for %s: %m", command[0]);
		_exit(126);
	}
	if (sigprocmask(SIG_SETMASK, saved_mask, NULL) < 0)
		_exit(126);
	execvp(command[0], command);
	r = errno;
	ctl_error_errno(r, "Failed to execute %s: %m", command[0]);
	_exit(r == ENOENT ? 127 : 126);
}

/* A signal from the terminal (Ctrl-C, hang-up) went to the whole foreground
 * process group, COMMAND included: only others are passed on. */
static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct command *c = userdata;

	if (si->ssi_code != SI_KERNEL && c->pid > 0)
		(void)kill(c->pid, (int)si->ssi_signo);
	return 0;
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	struct command *c = userdata;

	c->status = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
	c->pid = 0;
	return 0;
}

static void on_lease_ended(struct lease *l, const char *reason, void *userdata)
{
	struct command *c = userdata;

	if (c->pid <= 0)
		return;
	ctl_error("Lease %s ended: %s; stopping %s (PID %ld).", l->path, reason, c->name, (long)c->pid);
	(void)kill(c->pid, SIGTERM);
}

/* SIGCHLD and the signals passed on to the command, blocked before fork(),
 * so that none is lost before the loop runs; the child restores the mask
 * saved in *ret_saved before exec. */
static int signals_watch(sd_event *event, struct command *c, sigset_t *ret_saved)
{
	static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP };
	sigset_t mask;
	int r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	for (size_t i = 0; i < ELEMENTSOF(forwarded); i++)
		sigaddset(&mask, forwarded[i]);
	if (sigprocmask(SIG_BLOCK, &mask, ret_saved) < 0)
		return ctl_error_errno(errno, "Failed to block signals: %m");
	for (size_t i = 0; i < ELEMENTSOF(forwarded); i++) {
		r = sd_event_add_signal(event, NULL, forwarded[i], on_signal, c);
		if (r < 0)
			return ctl_error_errno(r, "Failed to watch for signals: %m");
	}
	return 0;
}

int verb_exec(int argc, char *argv[], const struct ctl_options *o)
{
	_cleanup_(sd_event_unrefp) sd_event *event = NULL;
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(lease_freep) struct lease *l = NULL;
	_cleanup_strv_free_ char **addresses = NULL, **command = NULL;
	_cleanup_free_ struct placeholder_device *devices = NULL;
	_cleanup_free_ int *fds = NULL, *scratch = NULL;
	struct command c = { .name = argv[1] };
	struct placeholder_values v;
	size_t n = strv_length(o->devices);
	sigset_t saved_mask;
	pid_t parent = getpid();
	int r;

	if (n == 0)
		return ctl_error_errno(EINVAL, "exec needs at least one --device ADDRESS.");
	r = ctl_parse_addresses(o->devices, n, &addresses);
	if (r < 0)
		return r;
	devices = calloc(n, sizeof(*devices));
	fds = calloc(n + 1, sizeof(int));
	scratch = calloc(n + 1, sizeof(int));
	if (!devices || !fds || !scratch)
		return ctl_error_errno(ENOMEM, "Out of memory.");

	/* A bad placeholder is a usage error, found before leasing anything. */
	values_fill(&v, devices, addresses, n, NULL);
	r = command_expand(argv + 1, &v, &command);
	if (r < 0)
		return r;
	strv_free(TAKE_PTR(command));
	r = stdio_fill();
	if (r < 0)
		return r;

	r = bus_connect_with_event(&event, &bus);
	if (r < 0)
		return r;
	r = lease_create(bus, addresses, !o->raw, on_lease_ended, &c, &l);
	if (r < 0)
		return r;

	values_fill(&v, devices, addresses, n, l);
	r = command_expand(argv + 1, &v, &command);
	if (r < 0)
		return r;
	r = environment_set(l);
	if (r < 0)
		return r;
	fds[0] = l->iommufd;
	for (size_t i = 0; i < n; i++)
		fds[i + 1] = l->devices[i].fd;

	r = signals_watch(event, &c, &saved_mask);
	if (r < 0)
		return r;

	fflush(stdout);
	fflush(stderr);
	c.pid = fork();
	if (c.pid < 0)
		return ctl_error_errno(errno, "Failed to fork: %m");
	if (c.pid == 0)
		child_run(command, fds, scratch, n + 1, &saved_mask, parent);

	lease_close_fds(l); /* the command's now; ccdevd keeps its own */
	r = sd_event_add_child(event, NULL, c.pid, WEXITED, on_child, &c);
	if (r < 0) {
		ctl_error_errno(r, "Failed to watch %s (PID %ld): %m", c.name, (long)c.pid);
		(void)kill(c.pid, SIGTERM);
		(void)waitpid(c.pid, NULL, 0);
		return r;
	}
	/* Not sd_event_loop(): when that ends, sd-bus closes the connection,
	 * and with it the lease, before Release() could be called. */
	while (c.pid > 0) {
		r = sd_event_run(event, UINT64_MAX);
		if (r < 0)
			return ctl_error_errno(r, "Event loop failed while %s runs: %m", c.name);
	}

	/* A failed release is reported; the status is still the command's
	 * (ccdevd ends the lease anyway when ccdevctl exits). */
	(void)lease_release(l);
	return c.status;
}
