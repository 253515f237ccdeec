/* Compiles Debian's llhttp http.c (package node-llhttp) in our tree. */
#include "http.c"
