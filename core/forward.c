/* Placeholder: being written. */
#include "autoconf.h"
