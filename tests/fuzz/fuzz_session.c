/*
 * fuzz_session.c - a whole session of ofad, in process, fed raw bytes.
 *
 * Each input is what one client sends on a fresh connection: the bytes go
 * through the daemon's own code (session.c: read, frame, decode, dispatch to
 * arena.c and the allocator core, encode, send with descriptors), on a
 * socketpair, driven by the daemon's libuv loop run here step by step. The
 * world is made anew for every input (a loop, a registry with one arena "f"
 * of 64 KiB pages, the sessions) and torn down after it, so inputs do not
 * depend on each other and a leak is the input's fault.
 *
 * The peer reads every reply (closing every descriptor that comes with a
 * PAGE reply) and shuts down its sending side once the input is sent, so the
 * session always ends: by the daemon closing a hostile connection, or by
 * the client's end of input. After it, the allocator's invariants must hold
 * and the arena must hold only KEEP blocks. A crash, a sanitizer report, a
 * broken invariant (abort) or a session that never ends is a finding.
 *
 * Built as a libFuzzer target with clang and -DOFA_FUZZ=ON (fuzz_session),
 * and in every build as replay_session, which runs the checked-in corpus
 * (tests/fuzz/corpus/session) as a regression test.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "arena.h"
#include "config.h"
#include "heap.h"
#include "log.h"
#include "session.h"
#include "shm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STEPS 20000 /* loop iterations for one input: far more than any needs */

struct world {
    uv_loop_t loop;
    struct cfg cfg;
    struct registry reg;
    struct sessions ss;
};

static void world_init(struct world *w)
{
    struct arena_params p = {.name = "f", .page_size = 64 * 1024, .max_bytes = 8 << 20,
                             .align = 64, .mode = 0600};
    struct arena *a;

    log_level = LOGP_ERR - 1; /* a hostile client's lines are expected here: none */
    if (uv_loop_init(&w->loop) != 0)
        abort();
    cfg_init(&w->cfg, 0);
    w->cfg.max_total = 32 << 20;
    w->cfg.max_pages = 1024;
    /* Pages are memfds of this process only, whatever runs beside it. */
    reg_init(&w->reg, 8, w->cfg.max_total, w->cfg.max_pages);
    p.uid = (uint32_t)getuid();
    p.gid = (uint32_t)getgid();
    if (reg_create(&w->reg, &p, &a) != 0)
        abort();
    sessions_init(&w->ss, &w->loop, &w->reg, &w->cfg, (uint32_t)getuid());
}

static void world_fini(struct world *w)
{
    sessions_fini(&w->ss);
    reg_fini(&w->reg);
    cfg_free(&w->cfg);
    /* Let the handles' close callbacks run, then the loop must be empty. */
    while (uv_run(&w->loop, UV_RUN_NOWAIT) != 0)
        ;
    if (uv_loop_close(&w->loop) != 0)
        abort();
}

/* Reads what the session sent; closes passed descriptors. Returns 1 at
 * end of stream (the session closed), 0 otherwise. */
static int drain(int fd)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * 64)];
    } cm;
    char buf[65536];

    for (;;) {
        struct iovec iov = {buf, sizeof(buf)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
                            .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf)};
        ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); n >= 0 && c != NULL; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                int fds[64];
                memcpy(fds, CMSG_DATA(c), k * sizeof(int));
                for (size_t i = 0; i < k; i++)
                    close(fds[i]);
            }
        }
        if (n == 0)
            return 1;
        if (n < 0)
            return errno == EAGAIN ? 0 : 1; /* ECONNRESET: closed too */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct world w;
    size_t sent = 0;
    int sv[2], done = 0, shut = 0;
    char why[256];

    world_init(&w);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    session_accept(&w.ss, sv[0]);
    for (int step = 0; step < MAX_STEPS && !done; step++) {
        if (!shut && sent < size) {
            ssize_t n = send(sv[1], data + sent, size - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN)
                sent = size; /* the session is gone already */
        }
        if (!shut && sent == size) {
            shutdown(sv[1], SHUT_WR);
            shut = 1;
        }
        uv_run(&w.loop, UV_RUN_NOWAIT);
        done = drain(sv[1]) && sessions_count(&w.ss) == 0;
    }
    if (!done) {
        fprintf(stderr, "fuzz_session: the session did not end\n");
        abort();
    }
    close(sv[1]);
    /* Whatever the input did, the heap is whole and the closed session
     * left only KEEP blocks (arenas it created or dropped included). */
    for (uint32_t slot = 0; slot < REG_MAX_ARENAS; slot++) {
        struct arena *a = w.reg.slots[slot];
        if (a == NULL)
            continue;
        struct heap_stats st;
        if (heap_validate(a->heap, why, sizeof(why)) != 0) {
            fprintf(stderr, "fuzz_session: arena %s: %s\n", a->name, why);
            abort();
        }
        heap_stats(a->heap, &st);
        if (st.blocks_live != heap_owner_blocks(a->heap, HEAP_OWNER_ARENA)) {
            fprintf(stderr, "fuzz_session: arena %s: a closed session left blocks\n", a->name);
            abort();
        }
    }
    world_fini(&w);
    return 0;
}
