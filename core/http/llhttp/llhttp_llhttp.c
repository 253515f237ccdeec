/* Compiles Debian's llhttp llhttp.c (package node-llhttp) in our tree. */
#include "llhttp.c"
