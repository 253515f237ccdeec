# Developer scripts, benchmark, examples.
EXTRA_DIST += contrib/deps.sh contrib/check.sh contrib/demo/run.sh
dist_noinst_SCRIPTS += contrib/bench/run.sh contrib/bench/cache.sh contrib/bench/h2.sh \
	contrib/fuzz/run.sh
EXTRA_DIST += contrib/bench/README.md contrib/bench/lib.sh contrib/bench/fill.lua \
	contrib/bench/servers.sh contrib/bench/profile.sh contrib/bench/cg_calls.py \
	contrib/bench/static.sh contrib/bench/static_fill.lua contrib/bench/relay.c
# The stress campaign (contrib/stress/README.md).
EXTRA_DIST += contrib/stress/README.md contrib/stress/run.sh contrib/stress/lib.sh \
	contrib/stress/soak.sh contrib/stress/upstream.sh contrib/stress/clients.sh \
	contrib/stress/signals.sh contrib/stress/persist.sh contrib/stress/isolation.sh \
	contrib/stress/count.lua
# libFuzzer run of what clients send (tests/netfuzz/).
dist_noinst_SCRIPTS += contrib/netfuzz/run.sh

# Manual pages (man(7) macros; checked with mandoc -Tlint and man --warnings).
dist_man_MANS = contrib/man/vaproxyd.8 contrib/man/vaproxyd.hcl.5 \
	contrib/man/vaproxy-plugin.3

# Commented example configurations; tests/integration/test_examples.py runs
# --check-config on each so they never rot.
examplesdir = $(docdir)/examples
dist_examples_DATA = \
	contrib/examples/approle-cache.hcl \
	contrib/examples/approle-cache.json \
	contrib/examples/kubernetes-sidecar.hcl \
	contrib/examples/cert-auth.hcl \
	contrib/examples/unix-socket.hcl

# The default configuration: installed as $(sysconfdir)/vaproxy/proxy.hcl
# unless a file is already there, and uninstalled only while it is still
# the shipped one, so `make install` never overwrites or deletes an
# administrator's configuration.
vpconfdir = $(sysconfdir)/vaproxy
EXTRA_DIST += contrib/systemd/proxy.hcl

install-data-local: install-default-config
install-default-config:
	$(MKDIR_P) '$(DESTDIR)$(vpconfdir)'
	@if test -e '$(DESTDIR)$(vpconfdir)/proxy.hcl'; then \
	  echo "keeping the existing $(DESTDIR)$(vpconfdir)/proxy.hcl"; \
	else \
	  echo " $(INSTALL_DATA) proxy.hcl '$(DESTDIR)$(vpconfdir)/proxy.hcl'"; \
	  $(INSTALL_DATA) '$(srcdir)/contrib/systemd/proxy.hcl' \
	    '$(DESTDIR)$(vpconfdir)/proxy.hcl'; \
	fi

uninstall-local: uninstall-default-config
uninstall-default-config:
	@if cmp -s '$(srcdir)/contrib/systemd/proxy.hcl' \
	    '$(DESTDIR)$(vpconfdir)/proxy.hcl'; then \
	  echo " rm -f '$(DESTDIR)$(vpconfdir)/proxy.hcl'"; \
	  rm -f '$(DESTDIR)$(vpconfdir)/proxy.hcl'; \
	fi
	-rmdir '$(DESTDIR)$(vpconfdir)' 2>/dev/null

.PHONY: install-default-config uninstall-default-config

# The systemd unit, with this build's paths.  Installed when configure found
# (or was given) systemd's unit directory; distcheck puts it below its own
# prefix.
EXTRA_DIST += contrib/systemd/vaproxyd.service.in
CLEANFILES += contrib/systemd/vaproxyd.service
AM_DISTCHECK_CONFIGURE_FLAGS = \
	--with-systemdsystemunitdir=$$dc_install_base$(systemdsystemunitdir)
if HAVE_SYSTEMD_UNITDIR
systemdsystemunit_DATA = contrib/systemd/vaproxyd.service
endif

contrib/systemd/vaproxyd.service: $(srcdir)/contrib/systemd/vaproxyd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) contrib/systemd && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' \
	    -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	    '$(srcdir)/contrib/systemd/vaproxyd.service.in' > $@.tmp && \
	mv $@.tmp $@

# Debian packaging: contrib/debian/build.sh makes the .debs (from the
# committed tree or a `make dist` tarball), contrib/debian/test.sh builds,
# inspects, lints, installs, uses and purges them.
EXTRA_DIST += contrib/debian/build.sh contrib/debian/test.sh \
	contrib/debian/changelog contrib/debian/control \
	contrib/debian/copyright contrib/debian/rules \
	contrib/debian/source/format \
	contrib/debian/vaproxyd.install contrib/debian/vaproxyd.postinst \
	contrib/debian/vaproxyd.postrm \
	contrib/debian/libvaproxy-sdk-dev.install
EXTRA_DIST += contrib/kubernetes/README.md contrib/kubernetes/init-container.yaml contrib/kubernetes/sidecar.yaml
