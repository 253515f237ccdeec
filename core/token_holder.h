#ifndef VPD_TOKEN_HOLDER_H
#define VPD_TOKEN_HOLDER_H
#endif
