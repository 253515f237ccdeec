/* Compiles the SDK's mock host into the test program.  It is installed as
 * source (VAPROXY_CHECK_MOCKHOST finds the directory and puts it on the
 * include path), so it is built with this project's compiler and flags. */
#include <mock_host.c>
