#ifndef VPD_CHAIN_H
#define VPD_CHAIN_H
#endif
