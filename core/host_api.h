#ifndef VPD_HOST_API_H
#define VPD_HOST_API_H
#endif
