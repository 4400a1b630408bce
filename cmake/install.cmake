# install: the layout `cmake --install` and the Debian package (cmake/package.cmake) share. Paths under
# /etc and the unit directory are absolute, as a system daemon's are; stage with DESTDIR, not --prefix.
#   /usr/bin/presend                     daemon and CLI in one binary; bin, not sbin, because compliance
#                                        officers run `presend lint`, `test` and `report` as themselves
#   /etc/presend/presend.yaml            the production config (contrib/presend.yaml)
#   /etc/presend/rules/                  the shipped rules and their example messages, to edit in place
#   /lib/systemd/system/presend.service  contrib/systemd/presend.service.in
#   /etc/logrotate.d/presend             contrib/logrotate/presend
#   /usr/share/doc/presend/              README, ARCHITECTURE, docs/*.md, examples/ (the Postfix snippet)
# The user and the state directories (/var/cache, /var/log, /var/lib/presend) are made by the package's
# postinst (contrib/debian/postinst), which a plain `cmake --install` leaves to the administrator.

set(PRESEND_SYSTEMD_UNIT_DIR "/lib/systemd/system" CACHE PATH "Where the systemd unit is installed")
set(PRESEND_LOGROTATE_DIR "/etc/logrotate.d" CACHE PATH "Where the logrotate file is installed")

install(TARGETS presend RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES contrib/presend.yaml DESTINATION ${PRESEND_CONF_DIR})
install(DIRECTORY rules/ DESTINATION ${PRESEND_INSTALLED_RULES_DIR})

set(PRESEND_BIN_PATH "${CMAKE_INSTALL_FULL_BINDIR}/presend")
configure_file(contrib/systemd/presend.service.in ${PROJECT_BINARY_DIR}/presend.service @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/presend.service DESTINATION ${PRESEND_SYSTEMD_UNIT_DIR})
install(FILES contrib/logrotate/presend DESTINATION ${PRESEND_LOGROTATE_DIR})

file(GLOB PRESEND_DOCS CONFIGURE_DEPENDS docs/*.md)
install(FILES README.md ARCHITECTURE.md ${PRESEND_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES contrib/postfix/main.cf.snippet DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
