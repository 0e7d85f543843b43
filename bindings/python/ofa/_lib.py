"""libofaclient through ctypes: finding the library, and the prototypes and
structures of ofaclient.h that the package uses.

The structures mirror ofaclient.h field for field; tests/test_ofa.py checks
their figures against ofactl's, so a layout that drifts from the header fails
there rather than in a user's program.
"""
import ctypes
import ctypes.util
import os

c_u64 = ctypes.c_uint64
c_u32 = ctypes.c_uint32
c_int = ctypes.c_int
c_char_p = ctypes.c_char_p
c_void_p = ctypes.c_void_p


def _grown(name, fields, room):
    """A structure of ofaclient.h: its fields at their places, inside the
    fixed room the header keeps for fields to come (OFA_ROOM_*), so that the
    library may fill the whole of it."""
    head = type(name + "Head", (ctypes.Structure,), {"_fields_": fields})
    pad = room - ctypes.sizeof(head)
    return type(name, (ctypes.Structure,), {"_fields_": fields + [("_room", ctypes.c_ubyte * pad)]})


ArenaConfig = _grown("ArenaConfig", [("page_size", c_u64), ("max_bytes", c_u64), ("align", c_u32),
                                     ("mode", c_u32), ("private_default", c_u32),
                                     ("cache_max", c_u64)], 128)

STATS_FIELDS = ("page_size", "max_bytes", "pages", "bytes_reserved", "bytes_live",
                "blocks_live", "free_chunks", "largest_free", "allocs", "frees",
                "alloc_failures")

ArenaStats = _grown("ArenaStats", [(name, c_u64) for name in STATS_FIELDS] +
                    [("align", c_u32), ("private_default", c_u32), ("cache_max", c_u64),
                     ("blocks_cached", c_u64), ("bytes_cached", c_u64)], 256)

ArenaInfo = _grown("ArenaInfo", [("name", ctypes.c_char * 64), ("uid", c_u32), ("gid", c_u32),
                                 ("mode", c_u32), ("stats", ArenaStats)], 512)

DaemonInfo = _grown("DaemonInfo", [("version", ctypes.c_char * 32), ("uptime_s", c_u64),
                                   ("clients", c_u64), ("arenas", c_u64),
                                   ("bytes_reserved", c_u64), ("bytes_limit", c_u64),
                                   ("pid", c_u64)], 256)


BlockInfo = _grown("BlockInfo", [("off", c_u64), ("size", c_u64), ("kind", c_u32), ("pid", c_u32),
                                 ("client", c_u64)], 64)

NameInfo = _grown("NameInfo", [("name", ctypes.c_char * 256), ("off", c_u64), ("size", c_u64),
                               ("uid", c_u32), ("pid", ctypes.c_int32)], 384)


def _candidates():
    env = os.environ.get("OFA_LIBRARY")
    if env:
        yield env
    try:
        from . import _config  # written by CMake: the build tree's or the install's library
        path = _config.LIBRARY
        if not os.path.isabs(path):
            path = os.path.normpath(os.path.join(os.path.dirname(__file__), path))
        yield path
    except ImportError:
        pass
    yield ctypes.util.find_library("ofaclient") or "libofaclient.so.0"


def _load():
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path, use_errno=False)
        except OSError as e:
            errors.append(str(e))
    raise ImportError("ofa: cannot load libofaclient (set OFA_LIBRARY to its path): " +
                      "; ".join(errors))


lib = _load()

P = ctypes.POINTER
_protos = {
    "ofa_connect": (c_int, [c_char_p, P(c_void_p)]),
    "ofa_disconnect": (None, [c_void_p]),
    "ofa_arena_create": (c_int, [c_void_p, c_char_p, P(ArenaConfig)]),
    "ofa_arena_open": (c_int, [c_void_p, c_char_p, P(c_void_p)]),
    "ofa_arena_close": (None, [c_void_p]),
    "ofa_arena_drop": (c_int, [c_void_p, c_char_p, c_int]),
    "ofa_alloc_ex": (c_int, [c_void_p, c_u64, c_u64, ctypes.c_uint, P(c_u64)]),
    "ofa_alloc_many": (c_int, [c_void_p, c_u64, c_u64, ctypes.c_uint, ctypes.c_size_t, P(c_u64)]),
    "ofa_free": (c_int, [c_void_p, c_u64]),
    "ofa_free_many": (c_int, [c_void_p, P(c_u64), ctypes.c_size_t]),
    "ofa_pin": (c_int, [c_void_p, c_u64, c_u64, P(c_void_p), P(c_void_p)]),
    "ofa_unpin": (None, [c_void_p]),
    "ofa_stats": (c_int, [c_void_p, P(ArenaStats)]),
    "ofa_arena_writable": (c_int, [c_void_p]),
    "ofa_arena_trim": (c_int, [c_void_p]),
    "ofa_ping": (c_int, [c_void_p]),
    "ofa_daemon_stats": (c_int, [c_void_p, P(DaemonInfo)]),
    "ofa_arena_info_get": (c_int, [c_void_p, c_char_p, P(ArenaInfo)]),
    "ofa_arena_list": (c_int, [c_void_p, P(P(ArenaInfo)), P(ctypes.c_size_t)]),
    "ofa_server_version": (c_char_p, [c_void_p]),
    "ofa_set_timeout": (c_int, [c_void_p, ctypes.c_uint]),
    "ofa_wait_addr": (c_int, [c_void_p, c_u32, c_int]),
    "ofa_wake_addr": (c_int, [c_void_p, c_int]),
    "ofa_errmsg": (c_char_p, []),
    "ofa_version_string": (c_char_p, []),
    "ofa_block_list": (c_int, [c_void_p, c_char_p, ctypes.c_uint, P(c_u64), P(P(BlockInfo)),
                               P(ctypes.c_size_t)]),
    "ofa_alloc_named": (c_int, [c_void_p, c_char_p, c_u64, ctypes.c_uint, P(c_u64)]),
    "ofa_name_bind": (c_int, [c_void_p, c_char_p, c_u64]),
    "ofa_name_unbind": (c_int, [c_void_p, c_char_p]),
    "ofa_lookup": (c_int, [c_void_p, c_char_p, P(c_u64), P(c_u64)]),
    "ofa_lookup_wait": (c_int, [c_void_p, c_char_p, c_int, P(c_u64), P(c_u64)]),
    "ofa_block_size": (c_int, [c_void_p, c_u64, P(c_u64)]),
    "ofa_name_list": (c_int, [c_void_p, c_char_p, P(P(NameInfo)), P(ctypes.c_size_t), P(c_u64)]),
    "ofa_strerror": (c_char_p, [c_int]),
    "ofa_err_name": (c_char_p, [c_int]),
}
for _name, (_res, _args) in _protos.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args

libc = ctypes.CDLL(None)
libc.free.argtypes = [c_void_p]
libc.free.restype = None
