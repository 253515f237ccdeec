/* User and group ids named in a configuration: a listener's socket_user
 * and socket_group, a template destination's user and group.
 *
 * Ownership: nothing is kept; the text is borrowed for the call. */
#ifndef VPD_SYS_IDS_H
#define VPD_SYS_IDS_H

#include <sys/types.h>

/* s is a number (all digits, below the type's all-ones value, which chown
 * reads as "leave unchanged") or a name in the system's user or group
 * database.  0 with *out set, or -1: no such user or group. */
int vpd_user_id(const char *s, uid_t *out);
int vpd_group_id(const char *s, gid_t *out);

#endif
