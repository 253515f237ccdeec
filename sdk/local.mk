# The SDK: public headers and the pkg-config file for plugin authors.
