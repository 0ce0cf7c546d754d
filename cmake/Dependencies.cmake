# Finds certgate's libraries and gives each one an imported target:
#   cg::openssl cg::gmime cg::glib cg::milter cg::db cg::spf2 cg::opendkim
#   cg::psl cg::idn2 cg::unbound cg::cmocka
# libmilter, libdb, libspf2 and libunbound have no (usable) pkg-config file
# everywhere: found by header and library name instead.

find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

pkg_check_modules(OPENSSL REQUIRED IMPORTED_TARGET openssl>=3.0)
pkg_check_modules(GMIME REQUIRED IMPORTED_TARGET gmime-3.0>=3.2)
pkg_check_modules(GLIB REQUIRED IMPORTED_TARGET glib-2.0>=2.74)
pkg_check_modules(GIO REQUIRED IMPORTED_TARGET gio-2.0>=2.74 gio-unix-2.0>=2.74)
pkg_check_modules(IDN2 REQUIRED IMPORTED_TARGET libidn2)
pkg_check_modules(PSL REQUIRED IMPORTED_TARGET libpsl)

add_library(cg::openssl ALIAS PkgConfig::OPENSSL)
add_library(cg::gmime ALIAS PkgConfig::GMIME)
add_library(cg::glib ALIAS PkgConfig::GLIB)
add_library(cg::gio ALIAS PkgConfig::GIO)
add_library(cg::idn2 ALIAS PkgConfig::IDN2)
add_library(cg::psl ALIAS PkgConfig::PSL)

# cg_find_plain(NAME HEADER LIBNAMES...): a library without pkg-config.
function(cg_find_plain name header)
  find_path(${name}_INCLUDE_DIR ${header})
  find_library(${name}_LIBRARY NAMES ${ARGN})
  if(NOT ${name}_INCLUDE_DIR OR NOT ${name}_LIBRARY)
    message(FATAL_ERROR "certgate: ${header} / ${ARGN} not found (run scripts/setup)")
  endif()
  add_library(cg::${name} UNKNOWN IMPORTED GLOBAL)
  set_target_properties(cg::${name} PROPERTIES
    IMPORTED_LOCATION ${${name}_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${${name}_INCLUDE_DIR})
  message(STATUS "certgate: ${name}: ${${name}_LIBRARY}")
endfunction()

cg_find_plain(milter libmilter/mfapi.h milter)
set_property(TARGET cg::milter PROPERTY INTERFACE_LINK_LIBRARIES Threads::Threads)
cg_find_plain(db db.h db-5.3)
cg_find_plain(spf2 spf2/spf.h spf2)
cg_find_plain(opendkim opendkim/dkim.h opendkim)
cg_find_plain(resolv resolv.h resolv)
# libunbound's pkg-config file wants libevent's, which its -dev package does
# not pull in; the library itself needs nothing more.
cg_find_plain(unbound unbound.h unbound)

if(CERTGATE_TESTS)
  cg_find_plain(cmocka cmocka.h cmocka)
endif()
