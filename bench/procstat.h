/*
 * procstat.h - a process's /proc/PID/stat, for the benchmarks that time a
 * daemon by its own CPU time (ofad_bench, state_bench) or wait for a
 * process to be gone.
 *
 * Open, read and close only, no stdio: a signal handler may call it.
 */
#ifndef OFA_BENCH_PROCSTAT_H
#define OFA_BENCH_PROCSTAT_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* Reads /proc/pid/stat into buf (len bytes) and returns where the fields
 * after the command start (" S ppid ..."; the command may hold spaces and
 * parentheses, so after its last ')'), or NULL when pid is gone. */
static inline const char *procstat_read(pid_t pid, char *buf, size_t len)
{
    char path[32] = "/proc/", digits[16];
    int nd = 0, at = 6, fd;
    const char *p;
    ssize_t n;

    for (unsigned v = (unsigned)pid; v != 0 || nd == 0; v /= 10)
        digits[nd++] = (char)('0' + v % 10);
    while (nd > 0)
        path[at++] = digits[--nd];
    memcpy(path + at, "/stat", 6);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    n = read(fd, buf, len - 1);
    close(fd);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    p = strrchr(buf, ')');
    return p != NULL && p[1] == ' ' ? p + 1 : NULL;
}

/* utime + stime of pid (all its threads), in clock ticks; 0 if gone. Not
 * for a signal handler (sscanf). */
static inline uint64_t procstat_cpu_ticks(pid_t pid)
{
    char buf[1024];
    const char *p = procstat_read(pid, buf, sizeof(buf));
    unsigned long long ut, st;

    if (p == NULL || sscanf(p, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                            &st) != 2)
        return 0;
    return ut + st;
}

#endif
