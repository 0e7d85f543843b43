/*
 * bip_bench.cpp - the Boost.Interprocess side of ofad_bench's comparison.
 *
 * N processes share one managed_shared_memory segment and run the same
 * pattern as ofad_bench's pipelined clients, for the same wall time:
 *   lifo   allocate `batch` blocks of `size` bytes, free them in reverse,
 *          again;
 *   churn  each process keeps `live` blocks of random sizes in
 *          `min-size`..`size`; a step frees `batch` random ones of them and
 *          allocates as many new ones of random sizes (a fixed seed per
 *          process; a block drawn twice in a step is freed and replaced once).
 * Each allocate and each deallocate is one call; the figure is the sum of
 * the processes' calls per second. The segment's allocator is guarded by one
 * interprocess mutex, which is what this measures under contention.
 *
 * Output: key=value lines on stdout (procs, calls, seconds, calls_per_s),
 * read by ofad_bench. The segment has a name of its own (pid in it) and is
 * removed on exit and on SIGINT/SIGTERM.
 *
 * usage: bip_bench [--procs N] [--seconds S] [--size B] [--min-size B] [--batch K]
 *                  [--segment-mb M] [--pattern lifo|churn] [--live L]
 */
#include <boost/interprocess/managed_shared_memory.hpp>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bip = boost::interprocess;

namespace {

char seg_name[64];

uint64_t now_ns()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

/* Boost names POSIX segments "/" + name; shm_unlink is async-signal-safe,
 * the Boost remover is not. */
void on_signal(int sig)
{
    char path[72] = "/";
    strcat(path, seg_name);
    shm_unlink(path);
    signal(sig, SIG_DFL);
    raise(sig);
}

struct result {
    uint64_t calls, ns;
    int err;
};

uint64_t rnd(uint64_t *s)
{
    /* xorshift64*: cheap, and the same sequence in every run */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

struct params {
    double seconds;
    size_t size, min_size, batch, live;
    bool churn;
};

/* One process: open the segment, wait for the start, run the pattern until
 * the deadline, write the result to out_fd. */
int child(int idx, int go_fd, int ready_fd, int out_fd, const params &pp)
{
    result r = {0, 0, 0};
    try {
        bip::managed_shared_memory seg(bip::open_only, seg_name);
        std::vector<void *> p(pp.churn ? pp.live : pp.batch);
        uint64_t s = 0x9e3779b97f4a7c15ull * uint64_t(idx + 1);
        size_t span = pp.size - pp.min_size + 1;
        if (pp.churn)
            for (auto &q : p)
                q = seg.allocate(pp.min_size + rnd(&s) % span);
        char c = 'r';
        if (write(ready_fd, &c, 1) != 1)
            return 1;
        while (read(go_fd, &c, 1) < 0 && errno == EINTR) {
        }
        uint64_t t0 = now_ns(), deadline = t0 + uint64_t(pp.seconds * 1e9), t;
        std::vector<size_t> slot(pp.batch);
        do {
            if (pp.churn) {
                size_t n = 0;
                for (size_t i = 0; i < pp.batch; i++) {
                    size_t k = rnd(&s) % pp.live;
                    if (p[k]) {
                        seg.deallocate(p[k]);
                        p[k] = nullptr;
                        slot[n++] = k;
                    }
                }
                for (size_t i = 0; i < n; i++)
                    p[slot[i]] = seg.allocate(pp.min_size + rnd(&s) % span);
                r.calls += 2 * n;
            } else {
                for (size_t i = 0; i < pp.batch; i++)
                    p[i] = seg.allocate(pp.size);
                for (size_t i = pp.batch; i-- > 0;)
                    seg.deallocate(p[i]);
                r.calls += 2 * pp.batch;
            }
            t = now_ns();
        } while (t < deadline);
        r.ns = t - t0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bip_bench: %s\n", e.what());
        r.err = 1;
    }
    return write(out_fd, &r, sizeof(r)) == ssize_t(sizeof(r)) && !r.err ? 0 : 1;
}

} // namespace

int main(int argc, char **argv)
{
    int procs = 1;
    double seconds = 1.0;
    size_t size = 64, min_size = 1, batch = 128, seg_mb = 256, live = 10000;
    const char *pattern = "lifo";

    /* Every option takes a value: two arguments at a time. */
    for (int i = 1; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : nullptr;
        if (!v) {
            std::fprintf(stderr, "bip_bench: %s needs a value\n", argv[i]);
            return 2;
        }
        if (!std::strcmp(argv[i], "--procs"))
            procs = std::atoi(v);
        else if (!std::strcmp(argv[i], "--seconds"))
            seconds = std::strtod(v, nullptr);
        else if (!std::strcmp(argv[i], "--size"))
            size = std::strtoul(v, nullptr, 0);
        else if (!std::strcmp(argv[i], "--min-size"))
            min_size = std::strtoul(v, nullptr, 0);
        else if (!std::strcmp(argv[i], "--batch"))
            batch = std::strtoul(v, nullptr, 0);
        else if (!std::strcmp(argv[i], "--segment-mb"))
            seg_mb = std::strtoul(v, nullptr, 0);
        else if (!std::strcmp(argv[i], "--pattern"))
            pattern = v;
        else if (!std::strcmp(argv[i], "--live"))
            live = std::strtoul(v, nullptr, 0);
        else {
            std::fprintf(stderr, "usage: bip_bench [--procs N] [--seconds S] [--size B] "
                                 "[--min-size B] [--batch K] [--segment-mb M] "
                                 "[--pattern lifo|churn] [--live L]\n");
            return 2;
        }
    }
    params pp = {seconds, size, min_size, batch, live, !std::strcmp(pattern, "churn")};
    if (procs < 1 || procs > 64 || seconds <= 0 || size == 0 || batch == 0 || min_size == 0 ||
        min_size > size ||
        (!pp.churn && std::strcmp(pattern, "lifo")) || (pp.churn && live < batch) ||
        (size + 64) * (pp.churn ? live : batch) * size_t(procs) * 2 > seg_mb << 20) {
        std::fprintf(stderr, "bip_bench: bad arguments\n");
        return 2;
    }
    std::snprintf(seg_name, sizeof(seg_name), "ofa_bip_bench.%d", int(getpid()));
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    int rc = 0;
    try {
        bip::shared_memory_object::remove(seg_name);
        bip::managed_shared_memory seg(bip::create_only, seg_name, seg_mb << 20);
        int rp[2], gp[2], op[2];
        if (pipe(rp) < 0 || pipe(gp) < 0 || pipe(op) < 0)
            throw std::runtime_error("pipe");
        std::fflush(nullptr);
        std::vector<pid_t> pids;
        for (int i = 0; i < procs; i++) {
            pid_t pid = fork();
            if (pid < 0)
                throw std::runtime_error("fork");
            if (pid == 0) {
                signal(SIGINT, SIG_DFL);
                signal(SIGTERM, SIG_DFL);
                close(rp[0]);
                close(gp[1]);
                close(op[0]);
                _exit(child(i, gp[0], rp[1], op[1], pp));
            }
            pids.push_back(pid);
        }
        close(rp[1]);
        close(gp[0]);
        close(op[1]);
        for (int i = 0; i < procs; i++) {
            char c;
            if (read(rp[0], &c, 1) != 1) {
                rc = 1;
                break;
            }
        }
        close(gp[1]); /* start */
        uint64_t calls = 0, max_ns = 0;
        double rate = 0;
        result r;
        while (read(op[0], &r, sizeof(r)) == ssize_t(sizeof(r))) {
            if (r.err) {
                rc = 1;
                continue;
            }
            calls += r.calls;
            if (r.ns) {
                rate += double(r.calls) * 1e9 / double(r.ns);
                if (r.ns > max_ns)
                    max_ns = r.ns;
            }
        }
        for (pid_t pid : pids) {
            int st;
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
            }
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                rc = 1;
        }
        std::printf("pattern=%s\nprocs=%d\ncalls=%llu\nseconds=%.3f\ncalls_per_s=%.0f\n", pattern, procs,
                    (unsigned long long)calls, double(max_ns) / 1e9, rate);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bip_bench: %s\n", e.what());
        rc = 1;
    }
    bip::shared_memory_object::remove(seg_name);
    return rc;
}
