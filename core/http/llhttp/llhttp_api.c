/* Compiles Debian's llhttp api.c (package node-llhttp) in our tree. */
#include "api.c"
