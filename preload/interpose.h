// Binding each implementation to every version of the name it interposes.
//
// The dynamic linker resolves a versioned reference only to a definition of
// exactly that version: a program built before glibc 2.34 asks for
// sem_open@GLIBC_2.2.5 (libpthread's; GLIBC_2.17 on aarch64), one built since
// for sem_open@GLIBC_2.34 (libc's).  So the preload library defines each name
// at both, as glibc does: one alias per version, bound with LAMBSHM_SYMVER, the
// newest the default (@@, what an unversioned lookup such as dlsym finds).
// Which versions comes from abi/preload.exports, through the header abitool
// generates from it, never from this file.
#pragma once

#include "preload_versions.h"  // generated: LAMBSHM_VERSIONS_<name>(X)
#include "symver.h"

// X for LAMBSHM_VERSIONS_<name>: an exported alias of lambshm_preload_<name>
// named for the version, bound to <name>@VERSION or <name>@@VERSION.
#define LAMBSHM_PRELOAD_BIND(name, tag, version, at)                               \
  extern "C" __attribute__((alias("lambshm_preload_" #name), visibility("default"))) \
  decltype(lambshm_preload_##name) lambshm_preload_##name##_##tag;                 \
  LAMBSHM_SYMVER(lambshm_preload_##name##_##tag, #name at version);

// After the definition of lambshm_preload_<name>: exports it as <name> at
// every version abi/preload.exports gives <name>.
#define LAMBSHM_INTERPOSE(name) LAMBSHM_VERSIONS_##name(LAMBSHM_PRELOAD_BIND)
