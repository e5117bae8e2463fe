/*
 * The physical floor of a cgroup poll: the cost of reading the same files oomwatch reads, with nothing
 * on top. Every file is opened once and kept open; each cycle reads every file with one pread at
 * offset 0 (cgroup files regenerate their content on a read from offset 0) and does nothing with the
 * bytes. CPU time comes from getrusage over the timed cycles, so it is comparable with the CPU time
 * oomwatch's process spends per poll.
 *
 * Usage: floor LIST_FILE CYCLES [--keep-limit]
 *   LIST_FILE   one absolute path per line (the benchmark writes it)
 *   CYCLES      timed cycles, after one untimed warm-up cycle
 *   --keep-limit  do not raise RLIMIT_NOFILE. Without it the limit is raised as far as the process may;
 *                 files beyond it are opened, read and closed each cycle (what oomwatch does past its
 *                 descriptor budget), and "kept_open" in the output says how many stayed open.
 *
 * Prints one JSON object on stdout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char buf[65536];

static double tv_us(struct timeval tv) { return (double)tv.tv_sec * 1e6 + (double)tv.tv_usec; }

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: floor LIST_FILE CYCLES [--keep-limit]\n");
    return 2;
  }
  long cycles = strtol(argv[2], NULL, 10);
  int keep_limit = argc > 3 && strcmp(argv[3], "--keep-limit") == 0;

  FILE *list = fopen(argv[1], "r");
  if (!list) {
    fprintf(stderr, "floor: cannot open %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  size_t cap = 1024, n = 0;
  char **paths = malloc(cap * sizeof *paths);
  char line[4096];
  while (fgets(line, sizeof line, list)) {
    size_t len = strcspn(line, "\n");
    if (len == 0) continue;
    line[len] = '\0';
    if (n == cap) paths = realloc(paths, (cap *= 2) * sizeof *paths);
    paths[n++] = strdup(line);
  }
  fclose(list);

  struct rlimit cur;
  getrlimit(RLIMIT_NOFILE, &cur);
  if (!keep_limit && cur.rlim_cur < n + 64) {
    /* Up to the hard limit anyone may; past it only with CAP_SYS_RESOURCE (root outside a sandbox). */
    struct rlimit rl = {.rlim_cur = n + 64, .rlim_max = cur.rlim_max > n + 64 ? cur.rlim_max : n + 64};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
      rl.rlim_cur = rl.rlim_max = cur.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &cur);
  }
  /* Past the limit, less room for the transient opens, files are opened, read and closed each cycle. */
  size_t keep_max = cur.rlim_cur > 64 ? cur.rlim_cur - 64 : 0;

  int *fds = malloc(n * sizeof *fds);
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    fds[i] = kept < keep_max ? open(paths[i], O_RDONLY | O_CLOEXEC) : -1;
    if (fds[i] >= 0) {
      kept++;
    } else if (kept < keep_max) {
      fprintf(stderr, "floor: cannot open %s: %s\n", paths[i], strerror(errno));
      return 1;
    }
  }

  long bytes = 0;
  struct rusage r0, r1;
  double w0 = 0;
  for (long c = -1; c < cycles; c++) {
    if (c == 0) {
      getrusage(RUSAGE_SELF, &r0);
      w0 = now_us();
    }
    bytes = 0;
    for (size_t i = 0; i < n; i++) {
      ssize_t got;
      if (fds[i] >= 0) {
        got = pread(fds[i], buf, sizeof buf, 0);
      } else {
        int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
        got = fd < 0 ? -1 : read(fd, buf, sizeof buf);
        if (fd >= 0) close(fd);
      }
      if (got < 0) {
        fprintf(stderr, "floor: cannot read %s: %s\n", paths[i], strerror(errno));
        return 1;
      }
      bytes += got;
    }
  }
  double w1 = now_us();
  getrusage(RUSAGE_SELF, &r1);

  double user = tv_us(r1.ru_utime) - tv_us(r0.ru_utime);
  double sys = tv_us(r1.ru_stime) - tv_us(r0.ru_stime);
  printf("{\"files\":%zu,\"kept_open\":%zu,\"cycles\":%ld,\"bytes_per_cycle\":%ld,"
         "\"cpu_us_per_cycle\":%.1f,\"user_us_per_cycle\":%.1f,\"sys_us_per_cycle\":%.1f,\"wall_us_per_cycle\":%.1f}\n",
         n, kept, cycles, bytes, (user + sys) / (double)cycles, user / (double)cycles, sys / (double)cycles,
         (w1 - w0) / (double)cycles);
  return 0;
}
