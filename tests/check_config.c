/*
 * check_config.c - unit tests of ofad's settings: --arena specs, sizes and
 * other values, the INI file (errors named by line), defaults.
 */
#include <check.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner.h"
#include "config.h"

static char err[CFG_ERR_LEN];

/* ---- spec ---- */

START_TEST(spec_name_only)
{
    struct cfg_arena a;

    ck_assert_int_eq(cfg_parse_arena_spec("frames", &a, err, sizeof(err)), 0);
    ck_assert_str_eq(a.name, "frames");
    ck_assert_uint_eq(a.set, 0);
}
END_TEST

START_TEST(spec_all_keys)
{
    struct cfg_arena a;

    ck_assert_int_eq(cfg_parse_arena_spec("f.1_x-y,page_size=64K,max=1G,align=128,mode=0640,"
                                          "owner=root,group=0",
                                          &a, err, sizeof(err)),
                     0);
    ck_assert_str_eq(a.name, "f.1_x-y");
    ck_assert_uint_eq(a.page_size, 65536);
    ck_assert_uint_eq(a.max_bytes, 1ull << 30);
    ck_assert_uint_eq(a.align, 128);
    ck_assert_uint_eq(a.mode, 0640);
    ck_assert_uint_eq(a.uid, 0);
    ck_assert_uint_eq(a.gid, 0);
    ck_assert_uint_eq(a.set, CFG_A_PAGE_SIZE | CFG_A_MAX | CFG_A_ALIGN | CFG_A_MODE | CFG_A_OWNER |
                                 CFG_A_GROUP);
}
END_TEST

START_TEST(spec_owner_gives_group)
{
    struct passwd *pw = getpwnam("nobody");
    struct cfg_arena a;

    ck_assert_ptr_nonnull(pw);
    ck_assert_int_eq(cfg_parse_arena_spec("x,owner=nobody", &a, err, sizeof(err)), 0);
    ck_assert_uint_eq(a.uid, pw->pw_uid);
    ck_assert_uint_eq(a.gid, pw->pw_gid);
    /* group= wins whatever the order. */
    ck_assert_int_eq(cfg_parse_arena_spec("x,group=0,owner=nobody", &a, err, sizeof(err)), 0);
    ck_assert_uint_eq(a.uid, pw->pw_uid);
    ck_assert_uint_eq(a.gid, 0);
}
END_TEST

static const char *const bad_specs[] = {
    "",
    "bad/name",
    "bad name",
    "0123456789012345678901234567890123456789012345678901234567890123", /* 64 */
    ",max=1M",
    "x,page_size=5000",
    "x,page_size=0",
    "x,page_size=6K",
    "x,page_size=2T",
    "x,align=3",
    "x,align=4",
    "x,align=8192",
    "x,mode=0888",
    "x,mode=01777",
    "x,mode=abc",
    "x,max=0",
    "x,max=-1",
    "x,max=1Q",
    "x,foo=1",
    "x,page_size",
    "x,",
    "x,,max=1M",
    "x,max=1M,max=2M",
    "x,owner=no-such-user-zz",
    "x,group=no-such-group-zz",
    "x,owner=",
};

START_TEST(spec_bad)
{
    struct cfg_arena a;
    const char *s = bad_specs[_i];

    err[0] = '\0';
    ck_assert_msg(cfg_parse_arena_spec(s, &a, err, sizeof(err)) == -EINVAL, "accepted '%s'", s);
    ck_assert_msg(err[0] != '\0', "no message for '%s'", s);
}
END_TEST

START_TEST(spec_63_chars)
{
    struct cfg_arena a;
    const char *n = "012345678901234567890123456789012345678901234567890123456789012";

    ck_assert_uint_eq(strlen(n), 63);
    ck_assert_int_eq(cfg_parse_arena_spec(n, &a, err, sizeof(err)), 0);
    ck_assert_str_eq(a.name, n);
}
END_TEST

/* ---- values ---- */

START_TEST(values_sizes)
{
    uint64_t v;
    uint32_t u;

    ck_assert_int_eq(cfg_parse_page_size("4096", &v), 0);
    ck_assert_uint_eq(v, 4096);
    ck_assert_int_eq(cfg_parse_page_size("16M", &v), 0);
    ck_assert_uint_eq(v, 16u << 20);
    ck_assert_int_eq(cfg_parse_page_size("1T", &v), 0);
    ck_assert_uint_eq(v, 1ull << 40);
    ck_assert_int_eq(cfg_parse_page_size("8K", &v), 0);
    ck_assert_uint_eq(v, 8192);
    ck_assert_int_eq(cfg_parse_page_size("4095", &v), -EINVAL);
    ck_assert_int_eq(cfg_parse_page_size("1025T", &v), -EINVAL);
    ck_assert_int_eq(cfg_parse_page_size(" 4096", &v), -EINVAL);
    ck_assert_int_eq(cfg_parse_page_size("0x1000", &v), -EINVAL);

    ck_assert_int_eq(cfg_parse_align("8", &u), 0);
    ck_assert_uint_eq(u, 8);
    ck_assert_int_eq(cfg_parse_align("4K", &u), 0);
    ck_assert_uint_eq(u, 4096);
    ck_assert_int_eq(cfg_parse_align("96", &u), -EINVAL);
    ck_assert_int_eq(cfg_parse_align("0", &u), -EINVAL);

    ck_assert_int_eq(cfg_parse_mode("0", &u), 0);
    ck_assert_uint_eq(u, 0);
    ck_assert_int_eq(cfg_parse_mode("644", &u), 0);
    ck_assert_uint_eq(u, 0644);
    ck_assert_int_eq(cfg_parse_mode("0777", &u), 0);
    ck_assert_int_eq(cfg_parse_mode("1000", &u), -EINVAL);
    ck_assert_int_eq(cfg_parse_mode("-1", &u), -EINVAL);
    ck_assert_int_eq(cfg_parse_mode("", &u), -EINVAL);

    ck_assert_int_eq(cfg_parse_count("5", 1, 10, &v), 0);
    ck_assert_uint_eq(v, 5);
    ck_assert_int_eq(cfg_parse_count("0", 1, 10, &v), -EINVAL);
    ck_assert_int_eq(cfg_parse_count("11", 1, 10, &v), -EINVAL);
    ck_assert_int_eq(cfg_parse_count("5K", 1, 10000, &v), -EINVAL);
    ck_assert_int_eq(cfg_parse_count("99999999999999999999999", 1, UINT64_MAX, &v), -EINVAL);
}
END_TEST

START_TEST(values_users)
{
    uint32_t uid, gid;

    ck_assert_int_eq(cfg_parse_user("root", &uid, &gid), 0);
    ck_assert_uint_eq(uid, 0);
    ck_assert_uint_eq(gid, 0);
    ck_assert_int_eq(cfg_parse_user("4242", &uid, &gid), 0);
    ck_assert_uint_eq(uid, 4242);
    ck_assert_int_eq(cfg_parse_user("no-such-user-zz", &uid, &gid), -ENOENT);
    ck_assert_int_eq(cfg_parse_group("root", &gid), 0);
    ck_assert_uint_eq(gid, 0);
    ck_assert_int_eq(cfg_parse_group("77", &gid), 0);
    ck_assert_uint_eq(gid, 77);
    ck_assert_int_eq(cfg_parse_group("no-such-group-zz", &gid), -ENOENT);
}
END_TEST

/* ---- INI ---- */

START_TEST(ini_good)
{
    static const char text[] = "# comment\n"
                               "; another\n"
                               "[ofad]\n"
                               "socket = /run/x/ofad.sock\n"
                               "  log_level = debug\n"
                               "max_message = 128K\n"
                               "max_arenas = 10\n"
                               "max_total = 2G\n"
                               "max_clients = 5\n"
                               "max_blocks_per_client = 1000\n"
                               "max_handles_per_client = 3\n"
                               "max_output = 64K\n"
                               "max_names_per_uid = 0\n"
                               "default_page_size = 1M\n"
                               "default_max_bytes = 8M\n"
                               "default_align = 16\n"
                               "\n"
                               "[arena frames]\n"
                               "\tpage_size = 64K ; inline comment\n"
                               "    max = 1M\n"
                               "mode = 0660\n"
                               "[ arena  empty ]\n"
                               "[arena other]\n"
                               "align=256\n";
    struct cfg c;
    struct cfg_arena *a;

    cfg_init(&c, 0);
    ck_assert_int_eq(cfg_load_string(&c, text, "t.conf", err, sizeof(err)), 0);
    ck_assert_str_eq(c.socket, "/run/x/ofad.sock");
    ck_assert_int_eq(c.log_level, 7);
    ck_assert_uint_eq(c.max_message, 128 * 1024);
    ck_assert_uint_eq(c.max_arenas, 10);
    ck_assert_uint_eq(c.max_total, 2ull << 30);
    ck_assert_uint_eq(c.max_clients, 5);
    ck_assert_uint_eq(c.max_blocks_per_client, 1000);
    ck_assert_uint_eq(c.max_handles_per_client, 3);
    ck_assert_uint_eq(c.max_output, 65536);
    ck_assert_uint_eq(c.max_names_per_uid, 0); /* users bind no names at all */
    ck_assert_uint_eq(c.default_page_size, 1 << 20);
    ck_assert_uint_eq(c.default_max_bytes, 8 << 20);
    ck_assert_uint_eq(c.default_align, 16);
    ck_assert_uint_eq(c.n_arenas, 3);
    ck_assert_int_eq(cfg_finish(&c, 1000, 2000, err, sizeof(err)), 0);
    a = cfg_find_arena(&c, "frames");
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->page_size, 65536);
    ck_assert_uint_eq(a->max_bytes, 1 << 20);
    ck_assert_uint_eq(a->align, 16);
    ck_assert_uint_eq(a->mode, 0660);
    ck_assert_uint_eq(a->uid, 1000);
    ck_assert_uint_eq(a->gid, 2000);
    ck_assert_uint_eq(a->line, 18);
    /* An empty section is an arena with every default. */
    a = cfg_find_arena(&c, "empty");
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->page_size, 1 << 20);
    ck_assert_uint_eq(a->max_bytes, 8 << 20);
    ck_assert_uint_eq(a->mode, 0600);
    a = cfg_find_arena(&c, "other");
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->align, 256);
    ck_assert_ptr_null(cfg_find_arena(&c, "default"));
    cfg_free(&c);
}
END_TEST

static const struct {
    const char *text;
    const char *where; /* "t.conf:N:" */
    const char *what;  /* part of the message */
} bad_ini[] = {
    {"[ofad]\nmax_arenas = 5\nbogus = 1\n", "t.conf:3:", "unknown key 'bogus'"},
    {"[ofad]\n[nope]\nx=1\n", "t.conf:2:", "unknown section"},
    {"[ofad]\n\n[nope]\n", "t.conf:3:", "unknown section"},
    {"max_arenas = 5\n", "t.conf:1:", "outside a section"},
    {"[ofad]\nmax_arenas = 5\nmax_arenas = 6\n", "t.conf:3:", "given twice"},
    {"[arena a]\n[arena a]\n", "t.conf:2:", "defined twice"},
    {"[arena a]\nmax=1M\nmax=2M\n", "t.conf:3:", "given twice"},
    {"[ofad]\n[ofad]\n", "t.conf:2:", "[ofad] given twice"},
    {"[ofad]\nmax_message = 1K\n", "t.conf:2:", "max_message"},
    {"[ofad]\nmax_message = 32M\n", "t.conf:2:", "max_message"},
    {"[ofad]\nmax_arenas = 0\n", "t.conf:2:", "max_arenas"},
    {"[ofad]\nmax_arenas = 5000\n", "t.conf:2:", "max_arenas"},
    {"[ofad]\nmax_total = 1K\n", "t.conf:2:", "max_total"},
    {"[ofad]\nmax_clients = many\n", "t.conf:2:", "max_clients"},
    {"[ofad]\nmax_output = 0\n", "t.conf:2:", "max_output"},
    {"[ofad]\nmax_names_per_uid = 16777217\n", "t.conf:2:", "max_names_per_uid"},
    {"[ofad]\nmax_names_per_uid = -1\n", "t.conf:2:", "max_names_per_uid"},
    {"[ofad]\nlog_level = loud\n", "t.conf:2:", "log_level"},
    {"[ofad]\ndefault_page_size = 100\n", "t.conf:2:", "default_page_size"},
    {"[ofad]\ndefault_align = 7\n", "t.conf:2:", "default_align"},
    {"[ofad]\ndefault_max_bytes = 0\n", "t.conf:2:", "default_max_bytes"},
    {"[arena a]\n\n\npage_size = 3\n", "t.conf:4:", "page_size"},
    {"[arena a]\nalign = 12\n", "t.conf:2:", "align"},
    {"[arena a]\nmode = 9\n", "t.conf:2:", "mode"},
    {"[arena a]\nowner = no-such-user-zz\n", "t.conf:2:", "unknown owner"},
    {"[arena a]\npagesize = 4K\n", "t.conf:2:", "unknown key 'pagesize' in [arena a]"},
    {"[arena bad/name]\n", "t.conf:1:", "bad arena name"},
    {"[arena]\n", "t.conf:1:", "bad arena name"},
    {"[ofad]\njust a line\n", "t.conf:2:", "syntax error"},
    {"[ofad\n", "t.conf:1:", "syntax error"},
};

START_TEST(ini_bad)
{
    struct cfg c;
    int rc;

    cfg_init(&c, 0);
    err[0] = '\0';
    rc = cfg_load_string(&c, bad_ini[_i].text, "t.conf", err, sizeof(err));
    ck_assert_msg(rc == -EINVAL, "case %d: rc %d", _i, rc);
    ck_assert_msg(strncmp(err, bad_ini[_i].where, strlen(bad_ini[_i].where)) == 0,
                  "case %d: '%s' does not start with '%s'", _i, err, bad_ini[_i].where);
    ck_assert_msg(strstr(err, bad_ini[_i].what) != NULL, "case %d: '%s' lacks '%s'", _i, err,
                  bad_ini[_i].what);
    cfg_free(&c);
}
END_TEST

START_TEST(ini_long_line)
{
    char text[600];
    struct cfg c;

    snprintf(text, sizeof(text), "[ofad]\n# %0500d\nmax_arenas = 0\n", 0);
    cfg_init(&c, 0);
    ck_assert_int_eq(cfg_load_string(&c, text, "t.conf", err, sizeof(err)), -EINVAL);
    ck_assert_msg(strstr(err, "t.conf:2:") == err, "%s", err);
    ck_assert_ptr_nonnull(strstr(err, "too long"));
    cfg_free(&c);
}
END_TEST

START_TEST(ini_file)
{
    char path[] = "/tmp/check_config.XXXXXX";
    struct cfg c;
    int fd = mkstemp(path);
    static const char text[] = "[ofad]\nmax_arenas = 7\n[arena x]\nmax = 4K\nfoo = 1\n";

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    close(fd);
    cfg_init(&c, 0);
    ck_assert_int_eq(cfg_load_file(&c, path, err, sizeof(err)), -EINVAL);
    ck_assert_msg(strncmp(err, path, strlen(path)) == 0 && strstr(err, ":5: ") != NULL, "%s", err);
    cfg_free(&c);
    unlink(path);
    cfg_init(&c, 0);
    ck_assert_int_eq(cfg_load_file(&c, path, err, sizeof(err)), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err, path));
    cfg_free(&c);
}
END_TEST

/* ---- defaults ---- */

START_TEST(defaults_values)
{
    struct cfg c;
    struct cfg_arena *a;

    cfg_init(&c, 8ull << 30);
    ck_assert_int_eq(c.log_level, -1);
    ck_assert_str_eq(c.socket, "");
    ck_assert_uint_eq(c.max_message, 64 * 1024);
    ck_assert_uint_eq(c.max_arenas, 64);
    ck_assert_uint_eq(c.max_total, 4ull << 30);
    ck_assert_uint_eq(c.max_clients, 1024);
    ck_assert_uint_eq(c.max_blocks_per_client, 4194304);
    ck_assert_uint_eq(c.max_handles_per_client, 64);
    ck_assert_uint_eq(c.max_output, 1 << 20);
    ck_assert_uint_eq(c.max_names_per_arena, 65536);
    ck_assert_uint_eq(c.max_names_per_uid, 16384);
    ck_assert_uint_eq(c.default_page_size, 16 << 20);
    ck_assert_uint_eq(c.default_max_bytes, 1ull << 30);
    ck_assert_uint_eq(c.default_align, 64);
    /* Nothing configured: one arena "default" of ofad's user, mode 0600. */
    ck_assert_int_eq(cfg_finish(&c, 123, 456, err, sizeof(err)), 0);
    ck_assert_uint_eq(c.n_arenas, 1);
    a = &c.arenas[0];
    ck_assert_str_eq(a->name, "default");
    ck_assert_uint_eq(a->uid, 123);
    ck_assert_uint_eq(a->gid, 456);
    ck_assert_uint_eq(a->mode, 0600);
    ck_assert_uint_eq(a->page_size, 16 << 20);
    ck_assert_uint_eq(a->max_bytes, 1ull << 30);
    ck_assert_uint_eq(a->align, 64);
    cfg_free(&c);

    cfg_init(&c, 0); /* /dev/shm size unknown */
    ck_assert_uint_eq(c.max_total, 1ull << 30);
    cfg_free(&c);
}
END_TEST

START_TEST(defaults_flags_override)
{
    struct cfg c;
    struct cfg_arena a, *p;

    cfg_init(&c, 0);
    ck_assert_int_eq(
        cfg_load_string(&c, "[arena x]\nmax = 1M\nmode = 0640\n[arena y]\n", "t", err, sizeof(err)),
        0);
    ck_assert_int_eq(cfg_parse_arena_spec("x,page_size=8K", &a, err, sizeof(err)), 0);
    ck_assert_int_eq(cfg_put_arena(&c, &a), 0);
    ck_assert_int_eq(cfg_parse_arena_spec("z", &a, err, sizeof(err)), 0);
    ck_assert_int_eq(cfg_put_arena(&c, &a), 0);
    ck_assert_int_eq(cfg_finish(&c, 0, 0, err, sizeof(err)), 0);
    ck_assert_uint_eq(c.n_arenas, 3);
    /* The flag replaces the file's arena whole. */
    p = cfg_find_arena(&c, "x");
    ck_assert_uint_eq(p->page_size, 8192);
    ck_assert_uint_eq(p->max_bytes, 1ull << 30);
    ck_assert_uint_eq(p->mode, 0600);
    ck_assert_ptr_nonnull(cfg_find_arena(&c, "y"));
    ck_assert_ptr_nonnull(cfg_find_arena(&c, "z"));
    ck_assert_ptr_null(cfg_find_arena(&c, "default"));
    cfg_free(&c);
}
END_TEST

START_TEST(defaults_too_many_arenas)
{
    struct cfg c;

    cfg_init(&c, 0);
    ck_assert_int_eq(cfg_load_string(&c,
                                     "[ofad]\nmax_arenas = 2\n[arena a]\n[arena b]\n"
                                     "[arena c]\n",
                                     "t", err, sizeof(err)),
                     0);
    ck_assert_int_eq(cfg_finish(&c, 0, 0, err, sizeof(err)), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "max_arenas"));
    cfg_free(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc;

    tc = tcase_create("spec");
    tcase_add_test(tc, spec_name_only);
    tcase_add_test(tc, spec_all_keys);
    tcase_add_test(tc, spec_owner_gives_group);
    tcase_add_loop_test(tc, spec_bad, 0, (int)(sizeof(bad_specs) / sizeof(bad_specs[0])));
    tcase_add_test(tc, spec_63_chars);
    suite_add_tcase(s, tc);

    tc = tcase_create("values");
    tcase_add_test(tc, values_sizes);
    tcase_add_test(tc, values_users);
    suite_add_tcase(s, tc);

    tc = tcase_create("ini");
    tcase_add_test(tc, ini_good);
    tcase_add_loop_test(tc, ini_bad, 0, (int)(sizeof(bad_ini) / sizeof(bad_ini[0])));
    tcase_add_test(tc, ini_long_line);
    tcase_add_test(tc, ini_file);
    suite_add_tcase(s, tc);

    tc = tcase_create("defaults");
    tcase_add_test(tc, defaults_values);
    tcase_add_test(tc, defaults_flags_override);
    tcase_add_test(tc, defaults_too_many_arenas);
    suite_add_tcase(s, tc);

    return ofa_check_run(s);
}
