# vaproxy-sdk.m4: configure macros for vaproxyd plugins built out of tree.
# serial 1
#
# Installed as $(datadir)/aclocal/vaproxy-sdk.m4 with vaproxy's SDK, so
# aclocal finds it without flags.  For an SDK staged elsewhere, point
# ACLOCAL_PATH at its share/aclocal and PKG_CONFIG_PATH at its pkgconfig.
#
# Public macros carry a "Since" note; _VAPROXY_* macros are private and may
# change at any release.

# VAPROXY_CHECK_SDK([ABI-VERSION], [ACTION-IF-FOUND], [ACTION-IF-NOT-FOUND])
# ---------------------------------------------------------------------
# Finds the SDK with pkg-config (module vaproxy-sdk) and checks, by
# compiling against its headers, that they speak ABI ABI-VERSION
# ("MAJOR.MINOR", default 1.0): the same major, and at least that minor,
# so ask for the oldest ABI whose functions the plugin uses.  The plugin
# records the ABI of the headers it is compiled with, and vaproxyd loads it
# when the majors are equal and the daemon's minor is not older: headers
# newer than needed narrow the daemons it loads into.
#
# (Not named VAPROXY_SDK: that is the variable prefix PKG_CHECK_MODULES
# builds VAPROXY_SDK_CFLAGS from, and m4 would expand a macro of that name
# inside it, forever.)
#
# Sets and substitutes:
#   VAPROXY_SDK_CFLAGS      compiler flags for the SDK headers
#   VAPROXY_SDK_LIBS        empty: plugins link against nothing of ours
#   VAPROXY_SDK_ABI_MAJOR, VAPROXY_SDK_ABI_MINOR   what the headers speak
#   VAPROXY_PLUGIN_CFLAGS   -fvisibility=hidden where the compiler has it
#   VAPROXY_PLUGIN_LDFLAGS  libtool flags for a plugin: only the descriptor
#                           exported, no undefined symbols, bound at load
#                           time.  Write `-module -avoid-version` in
#                           Makefile.am yourself, next to it: automake only
#                           accepts a module name without "lib" when it
#                           sees -module there.
#   vaproxy_plugindir       where vaproxyd looks for plugins (pkg-config
#                           variable plugindir); --with-vaproxy-plugindir
#                           overrides it, e.g. for `make distcheck`
#
# Without ACTION-IF-NOT-FOUND, a missing or unsuitable SDK stops configure
# with the reason.  Since: vaproxy 0.1.0 (ABI 1.0).
AC_DEFUN([VAPROXY_CHECK_SDK],
[m4_bmatch(m4_default([$1], [1.0]), [^[0-9]+\.[0-9]+$], [],
  [m4_fatal([VAPROXY_CHECK_SDK: ABI version must be MAJOR.MINOR, got "$1"])])dnl
AC_REQUIRE([AC_PROG_CC])dnl
AC_REQUIRE([PKG_PROG_PKG_CONFIG])dnl
AC_ARG_WITH([vaproxy-plugindir],
  [AS_HELP_STRING([--with-vaproxy-plugindir=DIR],
    [install the plugin into DIR (default: where the installed vaproxyd
     looks, from pkg-config)])],
  [vaproxy_plugindir=$withval], [vaproxy_plugindir=])
_VAPROXY_SDK_FIND(m4_bpatsubst(m4_default([$1], [1.0]), [\..*]),
                  m4_bpatsubst(m4_default([$1], [1.0]), [^[0-9]+\.]))
AS_IF([test "x$vaproxy_sdk_found" = xyes],
  [_VAPROXY_PLUGIN_FLAGS
   AS_IF([test "x$vaproxy_plugindir" = x],
     [vaproxy_plugindir=`$PKG_CONFIG --variable=plugindir vaproxy-sdk`])
   AC_MSG_CHECKING([where to install vaproxyd plugins])
   AC_MSG_RESULT([$vaproxy_plugindir])
   m4_default([$2], [:])],
  [m4_default([$3],
    [AC_MSG_ERROR([$vaproxy_sdk_why
Install vaproxy's SDK (Debian: libvaproxy-sdk-dev), or point PKG_CONFIG_PATH
at the directory holding vaproxy-sdk.pc.])])])
AC_SUBST([VAPROXY_SDK_ABI_MAJOR])
AC_SUBST([VAPROXY_SDK_ABI_MINOR])
AC_SUBST([VAPROXY_PLUGIN_CFLAGS])
AC_SUBST([VAPROXY_PLUGIN_LDFLAGS])
AC_SUBST([vaproxy_plugindir])
])

# _VAPROXY_SDK_FIND(MAJOR, MINOR)
# -------------------------------
# Sets vaproxy_sdk_found to yes or no, and vaproxy_sdk_why to the reason.
# The ABI comes from the headers, not from the .pc file: what a plugin
# records in its descriptor is what the headers it compiled said.
AC_DEFUN([_VAPROXY_SDK_FIND],
[vaproxy_sdk_found=no
PKG_CHECK_MODULES([VAPROXY_SDK], [vaproxy-sdk],
  [vaproxy_sdk_found=yes],
  [vaproxy_sdk_why="the vaproxy SDK was not found by pkg-config:
$VAPROXY_SDK_PKG_ERRORS"])
AS_IF([test "x$vaproxy_sdk_found" = xyes],
  [vaproxy_sdk_save_CPPFLAGS=$CPPFLAGS
   CPPFLAGS="$CPPFLAGS $VAPROXY_SDK_CFLAGS"
   AC_MSG_CHECKING([for the vaproxy SDK's ABI version])
   VAPROXY_SDK_ABI_MAJOR=
   VAPROXY_SDK_ABI_MINOR=
   AC_COMPUTE_INT([VAPROXY_SDK_ABI_MAJOR], [VP_ABI_MAJOR],
     [#include <vaproxy/vaproxy.h>], [VAPROXY_SDK_ABI_MAJOR=])
   AC_COMPUTE_INT([VAPROXY_SDK_ABI_MINOR], [VP_ABI_MINOR],
     [#include <vaproxy/vaproxy.h>], [VAPROXY_SDK_ABI_MINOR=])
   CPPFLAGS=$vaproxy_sdk_save_CPPFLAGS
   AS_IF([test "x$VAPROXY_SDK_ABI_MAJOR" = x || test "x$VAPROXY_SDK_ABI_MINOR" = x],
     [AC_MSG_RESULT([unknown])
      vaproxy_sdk_found=no
      vaproxy_sdk_why="<vaproxy/vaproxy.h> does not compile with VAPROXY_SDK_CFLAGS=$VAPROXY_SDK_CFLAGS (see config.log)"],
     [AC_MSG_RESULT([$VAPROXY_SDK_ABI_MAJOR.$VAPROXY_SDK_ABI_MINOR])
      AC_MSG_CHECKING([whether ABI $VAPROXY_SDK_ABI_MAJOR.$VAPROXY_SDK_ABI_MINOR can build plugins for ABI $1.$2])
      AS_IF([test "$VAPROXY_SDK_ABI_MAJOR" -eq $1 && test "$VAPROXY_SDK_ABI_MINOR" -ge $2],
        [AC_MSG_RESULT([yes])],
        [AC_MSG_RESULT([no])
         vaproxy_sdk_found=no
         vaproxy_sdk_why="the vaproxy SDK speaks ABI $VAPROXY_SDK_ABI_MAJOR.$VAPROXY_SDK_ABI_MINOR; this plugin needs ABI $1.$2 (major $1, minor $2 or later)"])])])
])

# _VAPROXY_PLUGIN_FLAGS
# ---------------------
# The flags vaproxy builds its own plugins with.  --no-undefined makes a
# symbol that nothing provides fail the link; sanitizer builds leave
# __asan_* undefined in shared objects, so it is only used where a test
# link succeeds.  -z now makes the rest fail at load, not mid-request.
AC_DEFUN([_VAPROXY_PLUGIN_FLAGS],
[VAPROXY_PLUGIN_CFLAGS=
VAPROXY_PLUGIN_LDFLAGS="-shared -no-undefined -export-symbols-regex '_vaproxy_plugin\$\$' -Wl,-z,now"
vaproxy_sdk_save_CFLAGS=$CFLAGS
vaproxy_sdk_save_LDFLAGS=$LDFLAGS
AC_MSG_CHECKING([whether $CC accepts -fvisibility=hidden])
CFLAGS="$CFLAGS -fvisibility=hidden"
AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
  [AC_MSG_RESULT([yes]); VAPROXY_PLUGIN_CFLAGS="-fvisibility=hidden"],
  [AC_MSG_RESULT([no])])
AC_MSG_CHECKING([whether plugins can be linked with -Wl,--no-undefined])
CFLAGS="$vaproxy_sdk_save_CFLAGS -fPIC"
LDFLAGS="$LDFLAGS -shared -fPIC -Wl,--no-undefined"
AC_LINK_IFELSE([AC_LANG_SOURCE([[int vaproxy_probe(int *p) { return p[1]; }]])],
  [AC_MSG_RESULT([yes])
   VAPROXY_PLUGIN_LDFLAGS="$VAPROXY_PLUGIN_LDFLAGS -Wl,--no-undefined"],
  [AC_MSG_RESULT([no])])
CFLAGS=$vaproxy_sdk_save_CFLAGS
LDFLAGS=$vaproxy_sdk_save_LDFLAGS
])

# VAPROXY_CHECK_MOCKHOST([ACTION-IF-FOUND], [ACTION-IF-NOT-FOUND])
# ---------------------------------------------------------------
# Finds the SDK's mock host, the stand-alone host table that plugin unit
# tests link instead of the daemon: mock_host.c, mock_host.h and the
# daemon's sources it includes (base/duration.c, plugin/file_read.c,
# plugin/conf_schema.c, plugin/host_members.c, ...), in the directory named by the pkg-config
# variable mockhostdir (or by the VAPROXY_MOCKHOST_DIR variable given to
# configure), plus json-c, which it
# uses for the host's JSON helpers.  Call it after VAPROXY_CHECK_SDK.
#
# Sets and substitutes:
#   VAPROXY_MOCKHOST_DIR     the directory: compile its mock_host.c into
#                            the test program (e.g. a one-line wrapper
#                            file that #includes <mock_host.c>)
#   VAPROXY_MOCKHOST_CFLAGS  -I that directory, the SDK's and json-c's flags
#   VAPROXY_MOCKHOST_LIBS    json-c's libraries
#
# Without ACTION-IF-NOT-FOUND, a missing mock host only draws a warning:
# the plugin builds without it, its unit tests cannot.
# Since: vaproxy 0.1.0 (ABI 1.0).
AC_DEFUN([VAPROXY_CHECK_MOCKHOST],
[AC_REQUIRE([PKG_PROG_PKG_CONFIG])dnl
AC_ARG_VAR([VAPROXY_MOCKHOST_DIR],
  [directory holding the SDK's mock_host.c and mock_host.h])
vaproxy_mockhost_found=no
AC_MSG_CHECKING([for the vaproxy SDK's mock host])
AS_IF([test "x$VAPROXY_MOCKHOST_DIR" = x && test "x$vaproxy_sdk_found" = xyes],
  [VAPROXY_MOCKHOST_DIR=`$PKG_CONFIG --variable=mockhostdir vaproxy-sdk`])
AS_IF([test "x$VAPROXY_MOCKHOST_DIR" != x &&
       test -r "$VAPROXY_MOCKHOST_DIR/mock_host.c" &&
       test -r "$VAPROXY_MOCKHOST_DIR/mock_host.h" &&
       test -r "$VAPROXY_MOCKHOST_DIR/base/duration.c" &&
       test -r "$VAPROXY_MOCKHOST_DIR/plugin/file_read.c" &&
       test -r "$VAPROXY_MOCKHOST_DIR/plugin/conf_schema.c" &&
       test -r "$VAPROXY_MOCKHOST_DIR/plugin/host_members.c"],
  [AC_MSG_RESULT([$VAPROXY_MOCKHOST_DIR])
   PKG_CHECK_MODULES([VAPROXY_MOCKHOST_JSONC], [json-c >= 0.13],
     [vaproxy_mockhost_found=yes],
     [vaproxy_mockhost_why="the mock host needs json-c (Debian: libjson-c-dev)"])],
  [AC_MSG_RESULT([no])
   vaproxy_mockhost_why="no mock_host.c, mock_host.h and the daemon's sources it includes (base/duration.c, plugin/file_read.c, plugin/conf_schema.c, plugin/host_members.c) in \"$VAPROXY_MOCKHOST_DIR\""])
AS_IF([test "x$vaproxy_mockhost_found" = xyes],
  [VAPROXY_MOCKHOST_CFLAGS="-I$VAPROXY_MOCKHOST_DIR $VAPROXY_SDK_CFLAGS $VAPROXY_MOCKHOST_JSONC_CFLAGS"
   VAPROXY_MOCKHOST_LIBS=$VAPROXY_MOCKHOST_JSONC_LIBS
   m4_default([$1], [:])],
  [VAPROXY_MOCKHOST_CFLAGS=
   VAPROXY_MOCKHOST_LIBS=
   m4_default([$2],
     [AC_MSG_WARN([$vaproxy_mockhost_why: plugin unit tests cannot be built])])])
AC_SUBST([VAPROXY_MOCKHOST_CFLAGS])
AC_SUBST([VAPROXY_MOCKHOST_LIBS])
])
