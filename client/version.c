/*
 * version.c - the version of the library running (ofa_version), for
 * programs that must know which fields of the growing structs and which
 * calls it has (ofaclient.h). OFA_VERSION_HEX is the header's; this is the
 * shared object's, which may be newer.
 */
#include "client.h"

#define OFA_STR_(x) #x
#define OFA_STR(x)  OFA_STR_(x)
#define HEADER_VERSION                                                                         \
    OFA_STR(OFA_VERSION_MAJOR) "." OFA_STR(OFA_VERSION_MINOR) "." OFA_STR(OFA_VERSION_PATCH)

unsigned int ofa_version(void)
{
    return OFA_VERSION_HEX;
}

const char *ofa_version_string(void)
{
    return HEADER_VERSION;
}
