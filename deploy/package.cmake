# The Debian package (CPack DEB): `make package` builds streamgate_<version>_<arch>.deb holding
# the binaries, the built web app, a conffile configuration and the systemd unit.

# Installed under /usr by the package; /etc and the unit directory are absolute.
install(TARGETS streamgate RUNTIME DESTINATION bin)
if(TARGET sgcat)
  install(TARGETS sgcat RUNTIME DESTINATION bin)
endif()

# The web app is built by npm (scripts/web.sh build), not by CMake: a package without it would
# serve the fallback test page, so its absence stops the packaging.
set(SG_WEB_DIST "${PROJECT_SOURCE_DIR}/web/dist" CACHE PATH "The built web app to package")
install(CODE "
  if(NOT EXISTS \"${SG_WEB_DIST}/index.html\")
    message(FATAL_ERROR \"${SG_WEB_DIST}/index.html is missing: run scripts/web.sh build (make package does)\")
  endif()")
install(DIRECTORY "${SG_WEB_DIST}/" DESTINATION share/streamgate/web)

install(FILES deploy/streamgate.toml DESTINATION /etc/streamgate)
install(FILES deploy/systemd/streamgate.service DESTINATION /lib/systemd/system)
install(FILES README.md docs/deploy.md docs/configuration.md docs/operations.md docs/protocol.md docs/security.md
        DESTINATION share/doc/streamgate)
install(FILES deploy/nginx/streamgate.conf DESTINATION share/doc/streamgate/examples/nginx)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME streamgate)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "streamgate maintainers <streamgate@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "gateway that streams LLM answers over WebSocket and SSE")
set(CPACK_PACKAGE_DESCRIPTION "streamgate streams LLM answers token by token to browsers and programs over
WebSocket, with SSE and an OpenAI-compatible API, and keeps streams resumable across reconnects.
It includes a web app and the sgcat command-line client, and runs as a systemd service.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS nginx)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
    ${PROJECT_SOURCE_DIR}/deploy/debian/prerm ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)
