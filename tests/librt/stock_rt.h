// This machine's stock glibc (2.36) implementation of librt's functions, for
// differential tests: timer_* and mq_* are libc.so.6's GLIBC_2.34 versions,
// clock_* libc's at the version our librt forwards to.  Looked up with
// dlvsym in a translation unit that does not include rt_abi.h.
#pragma once

#include <mqueue.h>
#include <signal.h>
#include <time.h>

namespace stock_rt {
int timer_create(clockid_t clock, struct sigevent* evp, timer_t* timerid);
int timer_delete(timer_t timerid);
int timer_settime(timer_t timerid, int flags, const struct itimerspec* value,
                  struct itimerspec* old);
int timer_gettime(timer_t timerid, struct itimerspec* value);
int timer_getoverrun(timer_t timerid);

mqd_t mq_open(const char* name, int oflag, mode_t mode, struct mq_attr* attr);
int mq_close(mqd_t q);
int mq_unlink(const char* name);
int mq_getattr(mqd_t q, struct mq_attr* attr);
int mq_setattr(mqd_t q, const struct mq_attr* attr, struct mq_attr* old);
int mq_send(mqd_t q, const char* msg, size_t len, unsigned prio);
ssize_t mq_receive(mqd_t q, char* msg, size_t len, unsigned* prio);
int mq_timedsend(mqd_t q, const char* msg, size_t len, unsigned prio, const struct timespec* abs);
ssize_t mq_timedreceive(mqd_t q, char* msg, size_t len, unsigned* prio,
                        const struct timespec* abs);
int mq_notify(mqd_t q, const struct sigevent* notification);

int clock_getres(clockid_t clock, struct timespec* res);
int clock_gettime(clockid_t clock, struct timespec* tp);
int clock_settime(clockid_t clock, const struct timespec* tp);
int clock_nanosleep(clockid_t clock, int flags, const struct timespec* req, struct timespec* rem);
int clock_getcpuclockid(pid_t pid, clockid_t* clock);
}  // namespace stock_rt
