#include "stock_rt.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include "librt_versions.h"

namespace stock_rt {
namespace {

// What glibc 2.34 moved from librt into libc got this version there.
constexpr char kLibcRtVersion[] = "GLIBC_2.34";

template <typename F>
F lookup(const char* name, const char* version) {
  static void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  void* f = dlvsym(libc, name, version);
  if (f == nullptr) {
    fprintf(stderr, "stock glibc has no %s@%s: %s\n", name, version, dlerror());
    abort();
  }
  return reinterpret_cast<F>(f);
}

#define STOCK(name) static auto f = lookup<decltype(&::name)>(#name, kLibcRtVersion)
#define STOCK_CLOCK(name) \
  static auto f = lookup<decltype(&::name)>(#name, LAMBSHM_IMPORT_##name)

}  // namespace

int timer_create(clockid_t clock, struct sigevent* evp, timer_t* timerid) {
  STOCK(timer_create);
  return f(clock, evp, timerid);
}
int timer_delete(timer_t timerid) {
  STOCK(timer_delete);
  return f(timerid);
}
int timer_settime(timer_t timerid, int flags, const struct itimerspec* value,
                  struct itimerspec* old) {
  STOCK(timer_settime);
  return f(timerid, flags, value, old);
}
int timer_gettime(timer_t timerid, struct itimerspec* value) {
  STOCK(timer_gettime);
  return f(timerid, value);
}
int timer_getoverrun(timer_t timerid) {
  STOCK(timer_getoverrun);
  return f(timerid);
}

mqd_t mq_open(const char* name, int oflag, mode_t mode, struct mq_attr* attr) {
  STOCK(mq_open);
  return f(name, oflag, mode, attr);
}
int mq_close(mqd_t q) {
  STOCK(mq_close);
  return f(q);
}
int mq_unlink(const char* name) {
  STOCK(mq_unlink);
  return f(name);
}
int mq_getattr(mqd_t q, struct mq_attr* attr) {
  STOCK(mq_getattr);
  return f(q, attr);
}
int mq_setattr(mqd_t q, const struct mq_attr* attr, struct mq_attr* old) {
  STOCK(mq_setattr);
  return f(q, attr, old);
}
int mq_send(mqd_t q, const char* msg, size_t len, unsigned prio) {
  STOCK(mq_send);
  return f(q, msg, len, prio);
}
ssize_t mq_receive(mqd_t q, char* msg, size_t len, unsigned* prio) {
  STOCK(mq_receive);
  return f(q, msg, len, prio);
}
int mq_timedsend(mqd_t q, const char* msg, size_t len, unsigned prio, const struct timespec* abs) {
  STOCK(mq_timedsend);
  return f(q, msg, len, prio, abs);
}
ssize_t mq_timedreceive(mqd_t q, char* msg, size_t len, unsigned* prio,
                        const struct timespec* abs) {
  STOCK(mq_timedreceive);
  return f(q, msg, len, prio, abs);
}
int mq_notify(mqd_t q, const struct sigevent* notification) {
  STOCK(mq_notify);
  return f(q, notification);
}

int clock_getres(clockid_t clock, struct timespec* res) {
  STOCK_CLOCK(clock_getres);
  return f(clock, res);
}
int clock_gettime(clockid_t clock, struct timespec* tp) {
  STOCK_CLOCK(clock_gettime);
  return f(clock, tp);
}
int clock_settime(clockid_t clock, const struct timespec* tp) {
  STOCK_CLOCK(clock_settime);
  return f(clock, tp);
}
int clock_nanosleep(clockid_t clock, int flags, const struct timespec* req, struct timespec* rem) {
  STOCK_CLOCK(clock_nanosleep);
  return f(clock, flags, req, rem);
}
int clock_getcpuclockid(pid_t pid, clockid_t* clock) {
  STOCK_CLOCK(clock_getcpuclockid);
  return f(pid, clock);
}

}  // namespace stock_rt
