#ifndef VPD_AUTO_AUTH_H
#define VPD_AUTO_AUTH_H
#endif
