/* User and group ids named in a configuration (sys_ids.h). */
#include "autoconf.h"

#include "base/sys_ids.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

/* A reentrant database lookup: 0 with *id set, ENOENT when there is no
 * such entry, or getpwnam_r's and getgrnam_r's own errors (ERANGE: buf is
 * too small for the entry's strings). */
typedef int (*db_lookup)(const char *name, char *buf, size_t len,
                         unsigned long *id);

static int
user_lookup(const char *name, char *buf, size_t len, unsigned long *id)
{
    struct passwd pw, *res = NULL;
    int e = getpwnam_r(name, &pw, buf, len, &res);
    if (e == 0 && res)
        *id = res->pw_uid;
    return e ? e : res ? 0 : ENOENT;
}

static int
group_lookup(const char *name, char *buf, size_t len, unsigned long *id)
{
    struct group gr, *res = NULL;
    int e = getgrnam_r(name, &gr, buf, len, &res);
    if (e == 0 && res)
        *id = res->gr_gid;
    return e ? e : res ? 0 : ENOENT;
}

/* A group with many members needs more room than the first buffer. */
#define BUF_FIRST 4096
#define BUF_MOST (1024 * 1024)

/* s as a number below limit, else as a name in the database. */
static int
resolve(const char *s, unsigned long limit, db_lookup lookup, unsigned long *id)
{
    if (*s && s[strspn(s, "0123456789")] == '\0') {
        errno = 0;
        unsigned long v = strtoul(s, NULL, 10);
        if (errno || v >= limit)
            return -1;
        *id = v;
        return 0;
    }
    for (size_t len = BUF_FIRST; len <= BUF_MOST; len *= 2) {
        char *buf = malloc(len);
        int e = buf ? lookup(s, buf, len, id) : ENOMEM;
        free(buf);
        if (e != ERANGE)
            return e == 0 ? 0 : -1;
    }
    return -1;
}

int
vpd_user_id(const char *s, uid_t *out)
{
    unsigned long id = 0;
    if (resolve(s, (unsigned long)(uid_t)-1, user_lookup, &id) != 0)
        return -1;
    *out = (uid_t)id;
    return 0;
}

int
vpd_group_id(const char *s, gid_t *out)
{
    unsigned long id = 0;
    if (resolve(s, (unsigned long)(gid_t)-1, group_lookup, &id) != 0)
        return -1;
    *out = (gid_t)id;
    return 0;
}
