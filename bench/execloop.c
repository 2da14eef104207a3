/* Per-exec timer for the sensor and drift benchmarks, run inside the test container.
 *
 *   execloop N PATH [ARG...]
 *
 * PATH may hold one "%ld": run i then execs PATH with i in its place (0 .. N-1), a different
 * file each time (the drift benchmark's first-seen files); argv[0] stays PATH as given. Runs PATH N times (vfork + execv + waitpid, as the design's `execloop` measurement) and times
 * each run on its own with CLOCK_MONOTONIC. Prints one line of microseconds:
 *
 *   n=N mean=.. p25=.. p50=.. p75=.. p99=.. cpu50=.. cpu_mean=.. fail=F
 *
 * cpu50/cpu_mean: the CPU time each exec'd process used (wait4's rusage, user + system): the
 * kernel's exec work, eBPF programs and fanotify event set-up included. Run-time accounting
 * leaves out time stolen by the hypervisor, so on a noisy VM this moves less than wall time.
 *
 * Why per exec: a shell loop only gives the mean, and one scheduler hiccup of a few ms in a
 * round moves a 2,000-exec mean by several us; the median of single execs does not move.
 * Built static (gcc -static) so it runs in the busybox image with no libc there.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double now_us(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double pick(const double *v, long n, double q) {
	long i = (long)(q * (n - 1) + 0.5);
	return v[i];
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: execloop N PATH [ARG...]\n");
		return 2;
	}
	long n = strtol(argv[1], NULL, 10);
	if (n <= 0) {
		fprintf(stderr, "execloop: N must be > 0\n");
		return 2;
	}
	double *took = calloc((size_t)n, sizeof *took);
	double *cpu = calloc((size_t)n, sizeof *cpu);
	if (took == NULL || cpu == NULL) {
		perror("calloc");
		return 1;
	}
	char path[4096];
	int numbered = strstr(argv[2], "%ld") != NULL;
	long fail = 0;
	double sum = 0, cpu_sum = 0;
	for (long i = 0; i < n; i++) {
		if (numbered)
			snprintf(path, sizeof path, argv[2], i); /* before vfork: the child only execs */
		else
			snprintf(path, sizeof path, "%s", argv[2]);
		double t0 = now_us();
		pid_t pid = vfork();
		if (pid == 0) {
			execv(path, &argv[2]);
			_exit(127);
		}
		int status = 0;
		struct rusage ru = {0};
		if (pid < 0 || wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			fail++;
		took[i] = now_us() - t0;
		sum += took[i];
		cpu[i] = ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1e6 +
			 ru.ru_stime.tv_usec;
		cpu_sum += cpu[i];
	}
	qsort(took, (size_t)n, sizeof *took, cmp);
	qsort(cpu, (size_t)n, sizeof *cpu, cmp);
	printf("n=%ld mean=%.1f p25=%.1f p50=%.1f p75=%.1f p99=%.1f cpu50=%.1f cpu_mean=%.1f "
	       "fail=%ld\n",
	       n, sum / n, pick(took, n, 0.25), pick(took, n, 0.5), pick(took, n, 0.75),
	       pick(took, n, 0.99), pick(cpu, n, 0.5), cpu_sum / n, fail);
	return 0;
}
