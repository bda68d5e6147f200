// Stock glibc's functions, looked up in libc.so.6 at their GLIBC_2.34 versions
// with dlvsym.  Not plain calls: in these executables a plain reference binds
// to lambshm's libraries (linked ahead of libc), and a second, differently
// versioned reference to the same name in one link is not something the
// linker handles.
#include "stock.h"

#include <dlfcn.h>
#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>

namespace stock {
namespace {

void* libc() {
  static void* handle = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  return handle;
}

template <typename F>
F lookup(const char* name) {
  void* f = dlvsym(libc(), name, "GLIBC_2.34");
  if (f == nullptr) {
    fprintf(stderr, "stock glibc has no %s@GLIBC_2.34: %s\n", name, dlerror());
    abort();
  }
  return reinterpret_cast<F>(f);
}

#define STOCK(name) static auto f = lookup<decltype(&::name)>(#name)

}  // namespace

int shm_open(const char* name, int oflag, mode_t mode) {
  STOCK(shm_open);
  return f(name, oflag, mode);
}
int shm_unlink(const char* name) {
  STOCK(shm_unlink);
  return f(name);
}
sem_t* sem_open(const char* name, int oflag, mode_t mode, unsigned value) {
  STOCK(sem_open);
  return f(name, oflag, mode, value);
}
sem_t* sem_open_existing(const char* name, int oflag) {
  STOCK(sem_open);
  return f(name, oflag);
}
int sem_close(sem_t* sem) {
  STOCK(sem_close);
  return f(sem);
}
int sem_unlink(const char* name) {
  STOCK(sem_unlink);
  return f(name);
}
int sem_init(sem_t* sem, int pshared, unsigned value) {
  STOCK(sem_init);
  return f(sem, pshared, value);
}
int sem_post(sem_t* sem) {
  STOCK(sem_post);
  return f(sem);
}
int sem_wait(sem_t* sem) {
  STOCK(sem_wait);
  return f(sem);
}
int sem_trywait(sem_t* sem) {
  STOCK(sem_trywait);
  return f(sem);
}
int sem_timedwait(sem_t* sem, const struct timespec* abstime) {
  STOCK(sem_timedwait);
  return f(sem, abstime);
}
int sem_clockwait(sem_t* sem, clockid_t clock, const struct timespec* abstime) {
  STOCK(sem_clockwait);
  return f(sem, clock, abstime);
}
int sem_getvalue(sem_t* sem, int* value) {
  STOCK(sem_getvalue);
  return f(sem, value);
}

}  // namespace stock
