#ifndef VPD_TLS_H
#define VPD_TLS_H
#endif
