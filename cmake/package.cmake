# package: `cpack -G DEB` in the build tree makes presend_VERSION_ARCH.deb from the install layout
# (cmake/install.cmake). Library dependencies come from dpkg-shlibdeps; everything under /etc is a
# conffile, so an officer's edited rules survive upgrades; the maintainer scripts in contrib/debian/
# create the presend user and its directories and start the service only where systemd runs.

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME presend)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_DESCRIPTION
    "presend inspects every message a sending platform relays and rejects, tempfails, quarantines or tags\n"
    "the ones that break bulk-sender requirements (List-Unsubscribe, one-click unsubscribe, Message-ID,\n"
    "Date, From) or the platform's content rules, with a dry-run mode and reports.")
set(PRESEND_PACKAGE_MAINTAINER "presend maintainers <postmaster@localhost>"
    CACHE STRING "Maintainer field of the Debian package")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${PRESEND_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION mail)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
# Absolute destinations (/etc, the unit directory) are staged under DESTDIR instead of the live system.
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON) # debug info would make the package ten times larger
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# adduser for postinst; shlibdeps adds the libraries. Postfix may run on another host, so it is a suggestion.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "logrotate")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postfix")

file(GLOB_RECURSE PRESEND_RULE_FILES CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}/rules
     ${PROJECT_SOURCE_DIR}/rules/*)
list(SORT PRESEND_RULE_FILES)
set(PRESEND_CONFFILES "${PRESEND_CONF_DIR}/presend.yaml\n${PRESEND_LOGROTATE_DIR}/presend\n")
foreach(file ${PRESEND_RULE_FILES})
  string(APPEND PRESEND_CONFFILES "${PRESEND_INSTALLED_RULES_DIR}/${file}\n")
endforeach()
file(WRITE ${PROJECT_BINARY_DIR}/debian/conffiles "${PRESEND_CONFFILES}")

set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_BINARY_DIR}/debian/conffiles
    ${PROJECT_SOURCE_DIR}/contrib/debian/postinst
    ${PROJECT_SOURCE_DIR}/contrib/debian/prerm
    ${PROJECT_SOURCE_DIR}/contrib/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
