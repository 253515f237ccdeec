# Test-only plugins (trace, deliberately broken ones).  -rpath makes libtool
# build real shared objects instead of convenience archives.
