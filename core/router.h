#ifndef VPD_ROUTER_H
#define VPD_ROUTER_H
#endif
