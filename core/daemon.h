#ifndef VPD_DAEMON_H
#define VPD_DAEMON_H
#endif
