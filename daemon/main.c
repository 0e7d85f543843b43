/*
 * main.c - ofad's entry point: flags, the config, start and exit codes.
 *
 * Owns: the command line, the precedence of settings (flags, then the
 * environment, then the config file, then the defaults) and the mapping of
 * failures to exit codes: 0 after a clean shutdown, 2 for bad flags, a bad
 * config file or an unusable socket path, 1 when another ofad serves the
 * socket or the daemon fails at run time. Every startup failure is one line
 * on stderr beginning "ofad: ". Everything else is server.c's.
 *
 * One hidden first argument, never in --help: "--fd-keeper STATE_DIR" runs
 * the process that keeps page descriptors while no ofad runs (fdstore.c
 * starts it as /proc/self/exe, with its socket as descriptor 3).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "fdstore.h"
#include "log.h"
#include "server.h"
#include "shm.h"

/* Large (reply scratch included): static, not on the stack. */
static struct server srv;
/* --arena flags, kept for every reload. */
static struct cfg_arena *flag_arenas;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ofad [--socket PATH] [--config FILE] [--arena SPEC]... [--log-level LEVEL]\n"
            "            [--log-format text|json] [--state-dir DIR [--discard-state]]\n"
            "            [--version] [--help]\n"
            "\n"
            "Serves shared-memory arenas over a Unix socket (default %s,\n"
            "or $%s). Runs in the foreground and logs to stderr.\n"
            "\n"
            "  --socket PATH      the socket to serve\n"
            "  --config FILE      INI config file ([ofad] and [arena NAME] sections);\n"
            "                     SIGHUP reloads it\n"
            "  --arena SPEC       an arena: NAME[,page_size=SIZE][,max=SIZE][,align=N]\n"
            "                     [,mode=OCTAL][,owner=USER][,group=GROUP]; repeatable;\n"
            "                     overrides the config file's arena of the same name\n"
            "  --log-level LEVEL  err, warning, notice, info (default) or debug\n"
            "  --log-format F     text (default: \"<N>message key=value\", timestamped on\n"
            "                     a terminal) or json (one object per line)\n"
            "  --state-dir DIR    keep arenas, pages, blocks, names and sessions in DIR\n"
            "                     for the next ofad: a restart (kill -9, a crash,\n"
            "                     SIGTERM) loses nothing\n"
            "  --discard-state    start afresh: release what DIR kept\n"
            "  --version          print the version and exit\n"
            "  --help             print this and exit\n"
            "\n"
            "SIZE: a number of bytes with an optional K, M, G or T suffix (64K, 16M, 1G).\n"
            "With no arena configured, ofad serves one arena named \"default\".\n",
            CFG_DEFAULT_SOCKET, CFG_SOCKET_ENV);
}

static int fail_usage(const char *fmt, const char *arg)
{
    fputs("ofad: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (see ofad --help)\n", stderr);
    return 2;
}

/* Makes path absolute (relative to the working directory) without
 * resolving links: the tag of a daemon is a function of this string. */
static int absolute_path(const char *path, char *out, size_t outlen)
{
    char cwd[PATH_MAX];

    if (path[0] == '/') {
        if (strlen(path) >= outlen)
            return -ENAMETOOLONG;
        strcpy(out, path);
        return 0;
    }
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        return -errno;
    if ((size_t)snprintf(out, outlen, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, path) >= outlen)
        return -ENAMETOOLONG;
    return 0;
}

/* Descriptors: ofad holds one per page and one per client, and passes
 * pages with more. Raises the soft limit to the hard one and returns the
 * limit in force. */
static uint64_t raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = {.rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl.rlim_cur = rl.rlim_max;
    }
    return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
}

/* The machine's physical memory in bytes, 0 if unknown. */
static uint64_t mem_size(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);

    return pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 0;
}

/* What the command line said. */
struct flags {
    const char *socket; /* --socket, NULL if not given */
    int log_level;      /* --log-level, -1 if not given */
    int log_format;     /* --log-format, LOG_FORMAT_TEXT if not given */
    size_t n_arenas;    /* --arena specs, in flag_arenas */
    bool version, help;
};

/* Reads the command line into f (and flag_arenas, srv.config_path).
 * Returns -1 to go on, or the status to exit with. */
static int parse_flags(int argc, char **argv, struct flags *f)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},
        {"config", required_argument, NULL, 'c'},
        {"arena", required_argument, NULL, 'a'},
        {"log-level", required_argument, NULL, 'l'},
        {"log-format", required_argument, NULL, 'F'},
        {"state-dir", required_argument, NULL, 'S'},
        {"discard-state", no_argument, NULL, 'D'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char err[CFG_ERR_LEN];
    int c;

    memset(f, 0, sizeof(*f));
    f->log_level = -1;
    f->log_format = LOG_FORMAT_TEXT;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (optarg[0] == '\0')
                return fail_usage("empty --socket%s", "");
            f->socket = optarg;
            break;
        case 'c':
            srv.config_path = optarg;
            break;
        case 'a': {
            struct cfg_arena *v = realloc(flag_arenas, (f->n_arenas + 1) * sizeof(*v));
            if (v == NULL) {
                fprintf(stderr, "ofad: out of memory\n");
                return 1;
            }
            flag_arenas = v;
            if (cfg_parse_arena_spec(optarg, &flag_arenas[f->n_arenas], err, sizeof(err)) < 0)
                return fail_usage("--arena: %s", err);
            /* A later --arena of the same name replaces an earlier one. */
            for (size_t i = 0; i < f->n_arenas; i++) {
                if (strcmp(flag_arenas[i].name, flag_arenas[f->n_arenas].name) == 0) {
                    flag_arenas[i] = flag_arenas[f->n_arenas];
                    f->n_arenas--;
                    break;
                }
            }
            f->n_arenas++;
            break;
        }
        case 'l':
            f->log_level = log_level_parse(optarg);
            if (f->log_level < 0)
                return fail_usage("bad --log-level '%s' (err, warning, notice, info, debug)",
                                  optarg);
            break;
        case 'F':
            f->log_format = log_format_parse(optarg);
            if (f->log_format < 0)
                return fail_usage("bad --log-format '%s' (text or json)", optarg);
            break;
        case 'S':
            if (optarg[0] != '/' || strlen(optarg) >= sizeof(srv.state_dir) - 64)
                return fail_usage("bad --state-dir '%s' (an absolute path)", optarg);
            snprintf(srv.state_dir, sizeof(srv.state_dir), "%s", optarg);
            break;
        case 'D':
            srv.discard_state = true;
            break;
        case 'V':
            f->version = true;
            break;
        case 'h':
            f->help = true;
            break;
        case ':':
            return fail_usage("%s needs a value", argv[optind - 1]);
        default:
            return fail_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return fail_usage("unexpected argument '%s'", argv[optind]);
    return -1;
}

/* The settings in force: defaults, then the file, then --arena, checked
 * whole; the log level. Returns -1 to go on, or the status to exit with. */
static int load_settings(const struct flags *f)
{
    char err[CFG_ERR_LEN];
    int rc;

    srv.mem_size = mem_size();
    srv.nofile = raise_nofile();
    srv.uid = getuid();
    srv.gid = getgid();
    cfg_init(&srv.cfg, srv.mem_size);
    if (srv.config_path != NULL) {
        rc = cfg_load_file(&srv.cfg, srv.config_path, err, sizeof(err));
        if (rc < 0) {
            fprintf(stderr, "ofad: %s\n", rc == -ENOMEM ? "out of memory" : err);
            return rc == -ENOMEM ? 1 : 2;
        }
    }
    for (size_t i = 0; i < f->n_arenas; i++) {
        if (cfg_put_arena(&srv.cfg, &flag_arenas[i]) < 0) {
            fprintf(stderr, "ofad: out of memory\n");
            return 1;
        }
    }
    srv.flag_arenas = flag_arenas;
    srv.n_flag_arenas = f->n_arenas;
    rc = cfg_finish(&srv.cfg, srv.uid, srv.gid, err, sizeof(err));
    if (rc == 0)
        rc = cfg_fit_nofile(&srv.cfg, srv.nofile, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "ofad: %s%s%s\n", srv.config_path ? srv.config_path : "",
                srv.config_path ? ": " : "", err);
        return rc == -ENOMEM ? 1 : 2;
    }

    if (f->log_level >= 0) {
        log_level = f->log_level;
        srv.log_level_fixed = true;
    } else if (srv.cfg.log_level >= 0) {
        log_level = srv.cfg.log_level;
    }
    return -1;
}

/* srv.socket_path: --socket, else $OFAD_SOCKET, else the file's, else the
 * default; made absolute. Returns -1 to go on, or the status to exit with. */
static int choose_socket(const struct flags *f)
{
    const char *path = f->socket, *env = getenv(CFG_SOCKET_ENV);
    struct sockaddr_un sa;
    int rc;

    if (path == NULL && env != NULL && env[0] != '\0')
        path = env;
    srv.socket_fixed = path != NULL;
    if (path == NULL)
        path = srv.cfg.socket[0] ? srv.cfg.socket : CFG_DEFAULT_SOCKET;
    rc = absolute_path(path, srv.socket_path, sizeof(srv.socket_path));
    if (rc == 0 && strlen(srv.socket_path) >= sizeof(sa.sun_path))
        rc = -ENAMETOOLONG;
    if (rc < 0) {
        fprintf(stderr, "ofad: unusable socket path %s: %s\n", path,
                rc == -ENAMETOOLONG ? "too long (at most 107 bytes)" : strerror(-rc));
        return 2;
    }
    return -1;
}

int main(int argc, char **argv)
{
    char err[CFG_ERR_LEN];
    struct flags f;
    int rc;

    /* The fd keeper (fdstore.c) is this program started by ofad itself. */
    if (argc > 1 && strcmp(argv[1], "--fd-keeper") == 0)
        return fdstore_keeper_main(argc, argv);
    rc = parse_flags(argc, argv, &f);
    if (rc >= 0)
        return rc;
    if (f.help) {
        usage(stdout);
        return 0;
    }
    if (f.version) {
        printf("ofad %s\n", OFA_VERSION);
        return 0;
    }
    log_setup(f.log_format);
    rc = load_settings(&f);
    if (rc < 0)
        rc = choose_socket(&f);
    if (rc >= 0)
        return rc;

    signal(SIGPIPE, SIG_IGN);
    /* A file size limit must turn a page too large into an error for its
     * client (EFBIG from ftruncate), not kill the daemon. */
    signal(SIGXFSZ, SIG_IGN);
    log_debug("starting version=%s pid=%d", OFA_VERSION, (int)getpid());
    rc = server_start(&srv, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "ofad: %s\n", err);
        if (rc == -EPROTO || rc == -EBADMSG)
            log_err("state refused, nothing changed: start with --discard-state to start "
                    "afresh reason=\"%s\"",
                    err);
        return rc == -EADDRINUSE || rc == -ENOMEM || rc == -EPROTO || rc == -EBADMSG ? 1 : 2;
    }
    server_run(&srv);
    free(flag_arenas);
    return 0;
}
