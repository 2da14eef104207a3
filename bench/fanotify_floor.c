/* The machine's floor for bench/drift.py: a fanotify exec listener that does nothing but read
 * events, answer FAN_ALLOW (block) and close the event fds. What it adds per exec is what any
 * userspace listener pays here before doing any work (wake-up, read, response).
 *
 *   fanotify_floor detect|block MOUNTPOINT...   (root; stops on SIGTERM, prints the count)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/fanotify.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	static char buf[65536] __attribute__((aligned(8)));
	struct pollfd pfd = { .events = POLLIN };
	unsigned long long mask;
	long events = 0;
	int block, fd, i;

	if (argc < 3)
		return 2;
	block = strcmp(argv[1], "block") == 0;
	mask = block ? FAN_OPEN_EXEC_PERM : FAN_OPEN_EXEC;
	fd = fanotify_init((block ? FAN_CLASS_CONTENT : FAN_CLASS_NOTIF) | FAN_CLOEXEC |
				   FAN_NONBLOCK,
			   O_RDONLY | O_LARGEFILE);
	if (fd < 0) {
		perror("fanotify_init");
		return 1;
	}
	for (i = 2; i < argc; i++)
		if (fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, AT_FDCWD, argv[i])) {
			perror(argv[i]);
			return 1;
		}
	signal(SIGTERM, on_term);
	pfd.fd = fd;
	while (!stop) {
		ssize_t len;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		while ((len = read(fd, buf, sizeof(buf))) > 0) {
			struct fanotify_event_metadata *m = (struct fanotify_event_metadata *)buf;

			for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
				if (m->fd >= 0) {
					if (m->mask & FAN_OPEN_EXEC_PERM) {
						struct fanotify_response r = { m->fd, FAN_ALLOW };

						if (write(fd, &r, sizeof(r)) < 0)
							perror("response");
					}
					close(m->fd);
				}
				events++;
			}
		}
	}
	fprintf(stderr, "events %ld\n", events);
	return 0;
}
