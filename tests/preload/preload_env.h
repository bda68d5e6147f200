// What the preload suite's GoogleTest programs share.  They run under
// LD_PRELOAD=liblambshm-preload.so with LAMBSHM_DIR set, before the first
// call, to a fresh directory; paths of the libraries and helpers come from
// environment variables meson sets.
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <semaphore.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "test_util.h"

namespace lambshm::test {

const std::string& backing_dir();
inline std::string preload_library() { return helper("LAMBSHM_PRELOAD_LIB"); }
inline std::string compose_library() { return helper("LAMBSHM_COMPOSE_LIB"); }
// tests/probe/probe-stock: bound to libc's GLIBC_2.34 functions.
inline std::string probe_stock() { return helper("LAMBSHM_PROBE_STOCK"); }
// tests/probe/probe: bound to lambshm's librt.so.1 and libpthread.so.0.
inline std::string probe_overlay() { return helper("LAMBSHM_PROBE"); }

// The versions a program can bind: glibc 2.34's, and the one programs built
// before it reference (librt's and libpthread's first version).
#if defined(__x86_64__)
inline constexpr const char* kOld = "GLIBC_2.2.5";
#elif defined(__aarch64__)
inline constexpr const char* kOld = "GLIBC_2.17";
#endif
inline constexpr const char* kNew = "GLIBC_2.34";
inline constexpr const char* kVersions[] = {kNew, kOld};

using ShmOpen = int (*)(const char*, int, mode_t);
using Unlink = int (*)(const char*);
using SemOpen = sem_t* (*)(const char*, int, ...);
using SemOp = int (*)(sem_t*);
using SemTimed = int (*)(sem_t*, const struct timespec*);
using SemClock = int (*)(sem_t*, clockid_t, const struct timespec*);
using SemGet = int (*)(sem_t*, int*);

inline std::string real(const std::string& path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) ? buf : path;
}

// The file of the object that defines `f`.
inline std::string object_of(void* f) {
  Dl_info info;
  if (f == nullptr) return "(not found)";
  if (dladdr(f, &info) == 0 || info.dli_fname == nullptr) return "(unknown)";
  return real(info.dli_fname);
}

inline void* libc_handle() {
  static void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  return libc;
}

inline std::string libc_path() { return object_of(dlsym(libc_handle(), "malloc")); }

// name@version as a program bound to it gets it (the global scope).
template <typename F>
F version_of(const char* name, const char* version) {
  void* f = dlvsym(RTLD_DEFAULT, name, version);
  if (f == nullptr) ADD_FAILURE() << name << "@" << version << ": " << dlerror();
  return reinterpret_cast<F>(f);
}

// libc's own definition, whatever comes before libc.
template <typename F>
F libc_version_of(const char* name, const char* version) {
  void* f = dlvsym(libc_handle(), name, version);
  if (f == nullptr) ADD_FAILURE() << "libc " << name << "@" << version << ": " << dlerror();
  return reinterpret_cast<F>(f);
}

inline bool exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

// Threads registered as blocked on a glibc sem_t (the high half of its first word).
inline uint32_t waiters(sem_t* sem) {
  return (uint32_t)(std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(sem)).load() >> 32);
}

}  // namespace lambshm::test
