// Every aio function through the built librt.so.1: results, errno, the
// aiocb fields glibc writes, each kind of notification, per-descriptor
// ordering, cancellation, aio_suspend's and lio_listio's ways of ending.
// Nothing here depends on timing: a request that must stay pending reads
// from an empty pipe, and the test writes to the pipe to let it finish.
#include "aio_bind.h"  // first: binds the calls below to our librt

#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "aio_util.h"

namespace lambshm::aio_test {
namespace {

bool done(const struct aiocb& cb) { return wait_done(&cb, &aio_suspend, &aio_error); }

class Aio : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) block(test_signal(i));
    for (int i = 0; i < 3; ++i) drain(test_signal(i));
  }
};

// --- Reading, writing, results ---------------------------------------------------

TEST_F(Aio, WriteThenReadAtOffsets) {
  TempFile f;
  char data[] = "0123456789";
  struct aiocb w = make_cb(f.fd, data, 10, 5);
  ASSERT_EQ(aio_write(&w), 0);
  ASSERT_TRUE(done(w));
  EXPECT_EQ(aio_error(&w), 0);
  EXPECT_EQ(aio_return(&w), 10);
  EXPECT_EQ(f.contents(), std::string(5, '\0') + "0123456789");

  char buf[8] = {};
  struct aiocb r = make_cb(f.fd, buf, 4, 8);
  ASSERT_EQ(aio_read(&r), 0);
  ASSERT_TRUE(done(r));
  EXPECT_EQ(aio_error(&r), 0);
  EXPECT_EQ(aio_return(&r), 4);
  EXPECT_STREQ(buf, "3456");

  // Reading at the end of the file: 0 bytes, no error.
  struct aiocb eof = make_cb(f.fd, buf, 4, 100);
  ASSERT_EQ(aio_read(&eof), 0);
  ASSERT_TRUE(done(eof));
  EXPECT_EQ(aio_error(&eof), 0);
  EXPECT_EQ(aio_return(&eof), 0);
}

TEST_F(Aio, SixtyFourBitEntryPointsAreTheSameFunctions) {
  TempFile f;
  char data[] = "abcdef";
  struct aiocb64 w;
  memset(&w, 0, sizeof w);
  w.aio_fildes = f.fd;
  w.aio_buf = data;
  w.aio_nbytes = 6;
  w.aio_offset = 1;
  ASSERT_EQ(aio_write64(&w), 0);
  const struct aiocb64* list[1] = {&w};
  while (aio_error64(&w) == EINPROGRESS) ASSERT_EQ(aio_suspend64(list, 1, nullptr), 0);
  EXPECT_EQ(aio_return64(&w), 6);
  ASSERT_EQ(aio_fsync64(O_SYNC, &w), 0);
  while (aio_error64(&w) == EINPROGRESS) ASSERT_EQ(aio_suspend64(list, 1, nullptr), 0);
  EXPECT_EQ(aio_return64(&w), 0);

  char buf[7] = {};
  struct aiocb64 r = w;
  r.aio_buf = buf;
  ASSERT_EQ(aio_read64(&r), 0);
  list[0] = &r;
  while (aio_error64(&r) == EINPROGRESS) ASSERT_EQ(aio_suspend64(list, 1, nullptr), 0);
  EXPECT_EQ(aio_return64(&r), 6);
  EXPECT_STREQ(buf, "abcdef");
  EXPECT_EQ(aio_cancel64(f.fd, &r), AIO_ALLDONE);

  struct aiocb64* lio[1] = {&r};
  r.aio_lio_opcode = LIO_READ;
  EXPECT_EQ(lio_listio64(LIO_WAIT, lio, 1, nullptr), 0);
  EXPECT_EQ(aio_return64(&r), 6);
}

TEST_F(Aio, SubmissionWritesTheFieldsGlibcWrites) {
  TempFile f;
  char buf[4];
  struct aiocb cb = make_cb(f.fd, buf, 4, 0, /*opcode=*/42);
  cb.aio_reqprio = 3;
  ASSERT_EQ(aio_read(&cb), 0);
  ASSERT_TRUE(done(cb));
  EXPECT_EQ(cb.aio_lio_opcode, LIO_READ);
  int policy;
  struct sched_param param;
  pthread_getschedparam(pthread_self(), &policy, &param);
  EXPECT_EQ(cb.__policy, policy);
  EXPECT_EQ(cb.__abs_prio, param.sched_priority - 3);

  cb.aio_reqprio = 7;
  ASSERT_EQ(aio_fsync(O_DSYNC, &cb), 0);
  ASSERT_TRUE(done(cb));
  EXPECT_EQ(cb.aio_lio_opcode, LIO_NOP + 1);  // glibc's LIO_DSYNC
  EXPECT_EQ(cb.aio_reqprio, 0);               // syncs ignore the priority
  ASSERT_EQ(aio_fsync(O_SYNC, &cb), 0);
  ASSERT_TRUE(done(cb));
  EXPECT_EQ(cb.aio_lio_opcode, LIO_NOP + 2);  // glibc's LIO_SYNC
  EXPECT_EQ(aio_error(&cb), 0);
  EXPECT_EQ(aio_return(&cb), 0);
}

TEST_F(Aio, PipesAreReadAndWrittenWithoutOffsets) {
  Pipe p;
  char data[] = "pipe!";
  struct aiocb w = make_cb(p.w, data, 5, /*offset=*/1234);
  ASSERT_EQ(aio_write(&w), 0);
  ASSERT_TRUE(done(w));
  EXPECT_EQ(aio_return(&w), 5);
  char buf[6] = {};
  struct aiocb r = make_cb(p.r, buf, 5, 99);
  ASSERT_EQ(aio_read(&r), 0);
  ASSERT_TRUE(done(r));
  EXPECT_EQ(aio_return(&r), 5);
  EXPECT_STREQ(buf, "pipe!");
}

// --- Errors ---------------------------------------------------------------------

TEST_F(Aio, RequestPriorityOutsideZeroToDeltaMaxIsEinvalAtOnce) {
  TempFile f;
  char buf[1];
  for (int prio : {-1, AIO_PRIO_DELTA_MAX + 1, 1000}) {
    struct aiocb cb = make_cb(f.fd, buf, 1);
    cb.aio_reqprio = prio;
    errno = 0;
    EXPECT_EQ(aio_read(&cb), -1) << prio;
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(aio_error(&cb), EINVAL);
    EXPECT_EQ(aio_return(&cb), -1);
    errno = 0;
    EXPECT_EQ(aio_write(&cb), -1);
    EXPECT_EQ(errno, EINVAL);
  }
  struct aiocb ok = make_cb(f.fd, buf, 1);
  ok.aio_reqprio = AIO_PRIO_DELTA_MAX;
  EXPECT_EQ(aio_read(&ok), 0);
  EXPECT_TRUE(done(ok));
}

TEST_F(Aio, IoErrorsArriveThroughAioError) {
  TempFile f;
  char buf[4] = {};
  struct {
    int fd;
    off_t offset;
    bool write;
    int error;
  } cases[] = {
      {987654, 0, false, EBADF},  // not open
      {-1, 0, true, EBADF},
      {f.fd, -1, false, EINVAL},  // negative offset
      {f.fd, -5, true, EINVAL},
  };
  for (auto& c : cases) {
    struct aiocb cb = make_cb(c.fd, buf, 4, c.offset);
    EXPECT_EQ(c.write ? aio_write(&cb) : aio_read(&cb), 0);  // glibc checks nothing here
    ASSERT_TRUE(done(cb));
    EXPECT_EQ(aio_error(&cb), c.error) << c.fd << " " << c.offset;
    EXPECT_EQ(aio_return(&cb), -1);
  }
  int ro = f.reopen(O_RDONLY), wo = f.reopen(O_WRONLY);
  struct aiocb w = make_cb(ro, buf, 4), r = make_cb(wo, buf, 4);
  ASSERT_EQ(aio_write(&w), 0);
  ASSERT_EQ(aio_read(&r), 0);
  ASSERT_TRUE(done(w) && done(r));
  EXPECT_EQ(aio_error(&w), EBADF);
  EXPECT_EQ(aio_error(&r), EBADF);
  close(ro);
  close(wo);
}

TEST_F(Aio, FsyncChecksItsArgumentsAtOnce) {
  TempFile f;
  struct aiocb cb = make_cb(f.fd, nullptr, 0);
  for (int op : {0, O_RDWR, O_SYNC | O_DSYNC | O_APPEND}) {
    errno = 0;
    EXPECT_EQ(aio_fsync(op, &cb), -1) << op;
    EXPECT_EQ(errno, EINVAL);
  }
  cb.aio_fildes = 987654;
  errno = 0;
  EXPECT_EQ(aio_fsync(O_SYNC, &cb), -1);
  EXPECT_EQ(errno, EBADF);
  // Open read-only: accepted, as fsync(2) accepts it (glibc 2.26 and later).
  cb.aio_fildes = f.reopen(O_RDONLY);
  EXPECT_EQ(aio_fsync(O_DSYNC, &cb), 0);
  EXPECT_TRUE(done(cb));
  EXPECT_EQ(aio_error(&cb), 0);
  close(cb.aio_fildes);
}

TEST_F(Aio, NullPointersAreEinvalNotCrashes) {
  // glibc declares these nonnull (and crashes); volatile keeps the compiler
  // from seeing the null.
  struct aiocb* volatile none = nullptr;
  struct aiocb* const* volatile no_list = nullptr;
  const struct aioinit* volatile no_init = nullptr;
  errno = 0;
  EXPECT_EQ(aio_read(none), -1);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(aio_write(none), -1);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(aio_fsync(O_SYNC, none), -1);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(aio_error(none), -1);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(aio_return(none), -1);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(aio_suspend(reinterpret_cast<const struct aiocb* const*>(no_list), 1, nullptr), -1);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(lio_listio(LIO_WAIT, no_list, 1, nullptr), -1);
  EXPECT_EQ(errno, EINVAL);
  aio_init(no_init);  // ignored
}

// --- Notifications -----------------------------------------------------------------

TEST_F(Aio, SigevSignalQueuesSiAsyncioWithValuePidAndUid) {
  int sig = test_signal(0);
  TempFile f;
  char data[] = "x";
  struct aiocb cb = make_cb(f.fd, data, 1);
  cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
  cb.aio_sigevent.sigev_signo = sig;
  cb.aio_sigevent.sigev_value.sival_ptr = &cb;
  ASSERT_EQ(aio_write(&cb), 0);
  siginfo_t info;
  ASSERT_TRUE(take_signal(sig, &info, 60));
  EXPECT_EQ(info.si_signo, sig);
  EXPECT_EQ(info.si_code, SI_ASYNCIO);
  EXPECT_EQ(info.si_value.sival_ptr, &cb);
  EXPECT_EQ(info.si_pid, getpid());
  EXPECT_EQ(info.si_uid, getuid());
  // The result is final before the signal is sent.
  EXPECT_EQ(aio_error(&cb), 0);
  EXPECT_EQ(aio_return(&cb), 1);
  EXPECT_EQ(drain(sig), 0);  // exactly one
}

TEST_F(Aio, SigevSignalWithABadSignalNumberFailsTheRequestWithEinval) {
  TempFile f;
  char data[] = "x";
  for (int signo : {-1, 65, 1000}) {
    struct aiocb cb = make_cb(f.fd, data, 1);
    cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
    cb.aio_sigevent.sigev_signo = signo;
    ASSERT_EQ(aio_write(&cb), 0);
    ASSERT_TRUE(done(cb));
    EXPECT_EQ(aio_error(&cb), EINVAL) << signo;  // glibc: the sigqueue failure becomes the result
    EXPECT_EQ(aio_return(&cb), -1);
  }
  EXPECT_EQ(f.contents(), "x");  // the I/O itself was done
}

struct Callback {
  std::atomic<int> calls{0};
  std::atomic<bool> ran_elsewhere{false};
  std::atomic<int> error{-1};
  std::atomic<ssize_t> ret{-2};
  std::atomic<bool> unblocked{false};
  std::atomic<int> detach_state{-1};
  std::atomic<size_t> stack_size{0};
  std::atomic<pthread_t> thread{};
  pthread_t main_thread = pthread_self();
  struct aiocb* cb = nullptr;
};

void record(union sigval value) {
  // Whatever signals the tests send later must not land here.
  sigset_t all, before;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &before);
  auto* c = static_cast<Callback*>(value.sival_ptr);
  c->ran_elsewhere = !pthread_equal(pthread_self(), c->main_thread);
  c->unblocked = sigismember(&before, test_signal(0)) == 0;
  c->error = aio_error(c->cb);
  c->ret = aio_return(c->cb);
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    int state;
    size_t size;
    pthread_attr_getdetachstate(&attr, &state);
    pthread_attr_getstacksize(&attr, &size);
    c->detach_state = state;
    c->stack_size = size;
    pthread_attr_destroy(&attr);
  }
  c->thread = pthread_self();
  c->calls.fetch_add(1);
}

TEST_F(Aio, SigevThreadRunsTheFunctionInANewDetachedThreadAfterTheResult) {
  TempFile f;
  char data[] = "abc";
  Callback c;
  struct aiocb cb = make_cb(f.fd, data, 3);
  c.cb = &cb;
  cb.aio_sigevent.sigev_notify = SIGEV_THREAD;
  cb.aio_sigevent.sigev_notify_function = record;
  cb.aio_sigevent.sigev_value.sival_ptr = &c;
  ASSERT_EQ(aio_write(&cb), 0);
  ASSERT_TRUE(eventually([&] { return c.calls.load() == 1; }, 60));
  EXPECT_TRUE(c.ran_elsewhere);
  EXPECT_EQ(c.error, 0);
  EXPECT_EQ(c.ret, 3);
  EXPECT_TRUE(c.unblocked);  // glibc runs notification functions with no signal blocked
  EXPECT_EQ(c.detach_state, PTHREAD_CREATE_DETACHED);
}

TEST_F(Aio, SigevThreadUsesTheCallersAttributes) {
  TempFile f;
  char data[] = "abc";
  Callback c;
  struct aiocb cb = make_cb(f.fd, data, 3);
  c.cb = &cb;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_JOINABLE);
  constexpr size_t kStack = 512 * 1024;
  pthread_attr_setstacksize(&attr, kStack);
  cb.aio_sigevent.sigev_notify = SIGEV_THREAD;
  cb.aio_sigevent.sigev_notify_function = record;
  cb.aio_sigevent.sigev_notify_attributes = &attr;
  cb.aio_sigevent.sigev_value.sival_ptr = &c;
  ASSERT_EQ(aio_write(&cb), 0);
  ASSERT_TRUE(eventually([&] { return c.calls.load() == 1; }, 60));
  EXPECT_EQ(c.detach_state, PTHREAD_CREATE_JOINABLE);
  EXPECT_EQ(c.stack_size, kStack);
  EXPECT_EQ(pthread_join(c.thread, nullptr), 0);  // joinable, as asked
  pthread_attr_destroy(&attr);
}

TEST_F(Aio, SigevThreadWithoutAFunctionIsEinval) {
  TempFile f;
  char data[] = "a";
  struct aiocb cb = make_cb(f.fd, data, 1);
  cb.aio_sigevent.sigev_notify = SIGEV_THREAD;
  cb.aio_sigevent.sigev_notify_function = nullptr;
  ASSERT_EQ(aio_write(&cb), 0);
  ASSERT_TRUE(done(cb));
  EXPECT_EQ(aio_error(&cb), EINVAL);
}

TEST_F(Aio, SigevThreadIdSignalsThatThread) {
  int sig = test_signal(1);
  std::atomic<pid_t> tid{0};
  std::atomic<bool> got{false};
  siginfo_t info{};
  std::thread target([&] {
    block(sig);
    tid = (pid_t)syscall(SYS_gettid);
    got = take_signal(sig, &info, 60);
  });
  ASSERT_TRUE(eventually([&] { return tid.load() != 0; }));
  TempFile f;
  char data[] = "t";
  struct aiocb cb = make_cb(f.fd, data, 1);
  cb.aio_sigevent.sigev_notify = SIGEV_THREAD_ID;
  cb.aio_sigevent.sigev_signo = sig;
  cb.aio_sigevent._sigev_un._tid = tid;
  cb.aio_sigevent.sigev_value.sival_int = 77;
  ASSERT_EQ(aio_write(&cb), 0);
  target.join();
  ASSERT_TRUE(got);
  EXPECT_EQ(info.si_code, SI_ASYNCIO);
  EXPECT_EQ(info.si_value.sival_int, 77);
  EXPECT_EQ(info.si_pid, getpid());
  EXPECT_EQ(aio_error(&cb), 0);
  EXPECT_EQ(drain(sig), 0);  // not queued to the process as well

  // A thread that does not exist (any more): EINVAL, as timer_create says.
  struct aiocb gone = make_cb(f.fd, data, 1);
  gone.aio_sigevent = cb.aio_sigevent;
  gone.aio_sigevent._sigev_un._tid = 0x7ffffff0;
  ASSERT_EQ(aio_write(&gone), 0);
  ASSERT_TRUE(done(gone));
  EXPECT_EQ(aio_error(&gone), EINVAL);
}

TEST_F(Aio, TheSigeventIsReadWhenTheRequestCompletes) {
  // As glibc: a program may set up the notification after submitting.
  int sig = test_signal(0);
  Pipe p;
  char c;
  struct aiocb cb = make_cb(p.r, &c, 1);
  ASSERT_EQ(aio_read(&cb), 0);
  cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
  cb.aio_sigevent.sigev_signo = sig;
  cb.aio_sigevent.sigev_value.sival_int = 8;
  ASSERT_EQ(write(p.w, "!", 1), 1);
  siginfo_t info;
  ASSERT_TRUE(take_signal(sig, &info, 60));
  EXPECT_EQ(info.si_value.sival_int, 8);
}

TEST_F(Aio, SigevNoneAndUnknownKindsNotifyNobody) {
  int sig = test_signal(0);
  TempFile f;
  char data[] = "n";
  for (int kind : {(int)SIGEV_NONE, 3, 99}) {
    struct aiocb cb = make_cb(f.fd, data, 1);
    cb.aio_sigevent.sigev_notify = kind;
    cb.aio_sigevent.sigev_signo = sig;
    ASSERT_EQ(aio_write(&cb), 0);
    ASSERT_TRUE(done(cb));
    EXPECT_EQ(aio_error(&cb), 0);
  }
  EXPECT_EQ(drain(sig), 0);
}

// --- Ordering ------------------------------------------------------------------------

TEST_F(Aio, RequestsOnOneDescriptorRunInSubmissionOrder) {
  Pipe p;
  constexpr int kCount = 200;
  std::vector<std::string> chunks;
  std::vector<struct aiocb> cbs(kCount);
  for (int i = 0; i < kCount; ++i) {
    char text[17];
    snprintf(text, sizeof text, "chunk%010d\n", i);
    chunks.emplace_back(text, 16);
  }
  for (int i = 0; i < kCount; ++i) {
    cbs[i] = make_cb(p.w, chunks[i].data(), 16);
    ASSERT_EQ(aio_write(&cbs[i]), 0);
  }
  for (auto& cb : cbs) ASSERT_TRUE(done(cb));
  std::string got(16 * kCount, '\0');
  size_t n = 0;
  while (n < got.size()) {
    ssize_t r = read(p.r, &got[n], got.size() - n);
    ASSERT_GT(r, 0);
    n += r;
  }
  std::string want;
  for (auto& c : chunks) want += c;
  EXPECT_EQ(got, want);
}

TEST_F(Aio, OneDescriptorsQueueIsOrderedByPriorityThenArrival) {
  // The first read blocks on the empty pipe and holds the queue; the others
  // line up behind it by aio_reqprio (lower first), equals in arrival order.
  Pipe p;
  char got[6] = {};
  int prios[6] = {0, 5, 0, 3, 0, 20};
  std::vector<struct aiocb> cbs(6);
  for (int i = 0; i < 6; ++i) {
    cbs[i] = make_cb(p.r, &got[i], 1);
    cbs[i].aio_reqprio = prios[i];
    ASSERT_EQ(aio_read(&cbs[i]), 0);
  }
  ASSERT_EQ(write(p.w, "ABCDEF", 6), 6);
  for (auto& cb : cbs) ASSERT_TRUE(done(cb));
  // Queue: #0 (head), then #2 and #4 (priority 0), #3 (3), #1 (5), #5 (20).
  EXPECT_EQ(std::string(got, 6), "AEBDCF");
}

TEST_F(Aio, DescriptorsDoNotWaitForEachOther) {
  Pipe p;
  char c;
  struct aiocb stuck = make_cb(p.r, &c, 1);
  ASSERT_EQ(aio_read(&stuck), 0);
  TempFile f;
  char data[] = "free";
  struct aiocb w = make_cb(f.fd, data, 4);
  ASSERT_EQ(aio_write(&w), 0);
  ASSERT_TRUE(done(w));
  EXPECT_EQ(aio_error(&stuck), EINPROGRESS);
  ASSERT_EQ(write(p.w, "z", 1), 1);
  ASSERT_TRUE(done(stuck));
  EXPECT_EQ(c, 'z');
}

TEST_F(Aio, FsyncCompletesAfterTheWritesQueuedBeforeIt) {
  TempFile f;
  std::vector<struct aiocb> writes(20);
  std::string data(4096, 'd');
  for (int i = 0; i < 20; ++i) {
    writes[i] = make_cb(f.fd, data.data(), data.size(), (off_t)i * 4096);
    ASSERT_EQ(aio_write(&writes[i]), 0);
  }
  struct aiocb sync = make_cb(f.fd, nullptr, 0);
  ASSERT_EQ(aio_fsync(O_SYNC, &sync), 0);
  ASSERT_TRUE(done(sync));
  EXPECT_EQ(aio_return(&sync), 0);
  for (auto& w : writes) EXPECT_EQ(aio_error(&w), 0);  // already final
}

// --- Cancellation ------------------------------------------------------------------------

TEST_F(Aio, CancelQueuedRunningAndFinishedRequests) {
  int sig = test_signal(0);
  Pipe p;
  char buf[3] = {};
  struct aiocb running = make_cb(p.r, &buf[0], 1);
  struct aiocb queued = make_cb(p.r, &buf[1], 1);
  struct aiocb other = make_cb(p.r, &buf[2], 1);
  queued.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
  queued.aio_sigevent.sigev_signo = sig;
  queued.aio_sigevent.sigev_value.sival_int = 5;
  ASSERT_EQ(aio_read(&running), 0);
  ASSERT_EQ(aio_read(&queued), 0);
  ASSERT_EQ(aio_read(&other), 0);
  ASSERT_TRUE(eventually([&] { return blocked_in_read(p.r); }));
  EXPECT_EQ(aio_cancel(p.r, &running), AIO_NOTCANCELED);  // a worker has it

  EXPECT_EQ(aio_cancel(p.r, &queued), AIO_CANCELED);
  EXPECT_EQ(aio_error(&queued), ECANCELED);
  EXPECT_EQ(aio_return(&queued), -1);
  siginfo_t info;
  ASSERT_TRUE(take_signal(sig, &info, 60));  // canceled requests notify too
  EXPECT_EQ(info.si_value.sival_int, 5);
  EXPECT_EQ(aio_cancel(p.r, &queued), AIO_ALLDONE);  // its result is known

  ASSERT_EQ(write(p.w, "12", 2), 2);
  ASSERT_TRUE(done(running) && done(other));
  EXPECT_EQ(aio_return(&running), 1);
  EXPECT_EQ(aio_return(&other), 1);
  EXPECT_EQ(std::string(buf, 3), std::string("1\0" "2", 3));
  EXPECT_EQ(aio_cancel(p.r, &running), AIO_ALLDONE);
  EXPECT_EQ(aio_cancel(p.r, nullptr), AIO_ALLDONE);
}

TEST_F(Aio, CancelEverythingOnADescriptor) {
  Pipe p;
  char buf[4] = {};
  std::vector<struct aiocb> cbs(4);
  for (int i = 0; i < 4; ++i) {
    cbs[i] = make_cb(p.r, &buf[i], 1);
    ASSERT_EQ(aio_read(&cbs[i]), 0);
  }
  ASSERT_TRUE(eventually([&] { return blocked_in_read(p.r); }));
  EXPECT_EQ(aio_cancel(p.r, nullptr), AIO_NOTCANCELED);  // all but the running one
  for (int i = 1; i < 4; ++i) {
    EXPECT_EQ(aio_error(&cbs[i]), ECANCELED);
    EXPECT_EQ(aio_return(&cbs[i]), -1);
  }
  EXPECT_EQ(aio_error(&cbs[0]), EINPROGRESS);
  ASSERT_EQ(write(p.w, "x", 1), 1);
  ASSERT_TRUE(done(cbs[0]));
  EXPECT_EQ(aio_return(&cbs[0]), 1);
  EXPECT_EQ(aio_cancel(p.r, nullptr), AIO_ALLDONE);
}

TEST_F(Aio, CancelErrors) {
  Pipe p;
  errno = 0;
  EXPECT_EQ(aio_cancel(987654, nullptr), -1);
  EXPECT_EQ(errno, EBADF);
  char c;
  struct aiocb cb = make_cb(p.r, &c, 1);
  errno = 0;
  EXPECT_EQ(aio_cancel(p.w, &cb), -1);  // not this descriptor's request
  EXPECT_EQ(errno, EINVAL);
  // An aiocb that says EINPROGRESS but was never submitted: EINVAL, as glibc.
  cb.__error_code = EINPROGRESS;
  errno = 0;
  EXPECT_EQ(aio_cancel(p.r, &cb), -1);
  EXPECT_EQ(errno, EINVAL);
  cb.__error_code = 0;
  EXPECT_EQ(aio_cancel(p.r, &cb), AIO_ALLDONE);
}

// --- aio_suspend ---------------------------------------------------------------------------

TEST_F(Aio, SuspendReturnsAtOnceWhenNothingIsPending) {
  TempFile f;
  char data[] = "s";
  struct aiocb cb = make_cb(f.fd, data, 1);
  ASSERT_EQ(aio_write(&cb), 0);
  ASSERT_TRUE(done(cb));
  const struct aiocb* list[3] = {nullptr, &cb, nullptr};
  EXPECT_EQ(aio_suspend(list, 3, nullptr), 0);
  const struct aiocb* none[2] = {nullptr, nullptr};
  EXPECT_EQ(aio_suspend(none, 2, nullptr), 0);
  EXPECT_EQ(aio_suspend(list, 0, nullptr), 0);
  errno = 0;
  EXPECT_EQ(aio_suspend(list, -1, nullptr), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST_F(Aio, SuspendTimesOutWithEagain) {
  Pipe p;
  char c;
  struct aiocb cb = make_cb(p.r, &c, 1);
  ASSERT_EQ(aio_read(&cb), 0);
  const struct aiocb* list[1] = {&cb};
  for (struct timespec t : {timespec{0, 0}, timespec{0, 20000000}, timespec{-1, 0}}) {
    errno = 0;
    EXPECT_EQ(aio_suspend(list, 1, &t), -1);
    EXPECT_EQ(errno, EAGAIN);
  }
  struct timespec bad = {0, 1000000000};
  errno = 0;
  EXPECT_EQ(aio_suspend(list, 1, &bad), -1);
  EXPECT_EQ(errno, EINVAL);
  ASSERT_EQ(write(p.w, "!", 1), 1);
  struct timespec forever = {1000000, 0};
  EXPECT_EQ(aio_suspend(list, 1, &forever), 0);
  EXPECT_EQ(aio_error(&cb), 0);
}

TEST_F(Aio, SuspendWakesForAnyEntry) {
  Pipe a, b;
  char ca, cb_;
  struct aiocb ra = make_cb(a.r, &ca, 1), rb = make_cb(b.r, &cb_, 1);
  ASSERT_EQ(aio_read(&ra), 0);
  ASSERT_EQ(aio_read(&rb), 0);
  std::thread writer([&] { (void)!write(b.w, "b", 1); });
  const struct aiocb* list[2] = {&ra, &rb};
  EXPECT_EQ(aio_suspend(list, 2, nullptr), 0);
  writer.join();
  EXPECT_EQ(aio_error(&rb), 0);
  EXPECT_EQ(aio_error(&ra), EINPROGRESS);
  ASSERT_EQ(write(a.w, "a", 1), 1);
  ASSERT_TRUE(done(ra));
}

std::atomic<int> g_handled{0};
void count_signal(int) { g_handled.fetch_add(1); }

// Sends SIGUSR1 to `target` every few milliseconds until stopped.
class Nagger {
 public:
  explicit Nagger(pthread_t target)
      : thread_([this, target] {
          while (!stop_) {
            pthread_kill(target, SIGUSR1);
            usleep(5000);
          }
        }) {}
  ~Nagger() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

void handle_sigusr1(bool restart) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = count_signal;
  sa.sa_flags = restart ? SA_RESTART : 0;
  sigaction(SIGUSR1, &sa, nullptr);
}

TEST_F(Aio, SuspendIsInterruptedByAHandlerWithEintr) {
  handle_sigusr1(/*restart=*/false);
  Pipe p;
  char c;
  struct aiocb cb = make_cb(p.r, &c, 1);
  ASSERT_EQ(aio_read(&cb), 0);
  const struct aiocb* list[1] = {&cb};
  int r, e;
  {
    Nagger nag(pthread_self());
    r = aio_suspend(list, 1, nullptr);
    e = errno;
  }
  EXPECT_EQ(r, -1);
  EXPECT_EQ(e, EINTR);
  EXPECT_EQ(aio_error(&cb), EINPROGRESS);
  ASSERT_EQ(write(p.w, "c", 1), 1);
  ASSERT_TRUE(done(cb));
  signal(SIGUSR1, SIG_IGN);
}

TEST_F(Aio, SuspendWithoutTimeoutRestartsAfterSaRestartHandlers) {
  // As glibc's: the kernel restarts the untimed sleep; the caller sees only
  // the completion.
  handle_sigusr1(/*restart=*/true);
  g_handled = 0;
  Pipe p;
  char c;
  struct aiocb cb = make_cb(p.r, &c, 1);
  ASSERT_EQ(aio_read(&cb), 0);
  std::thread finisher([&] {
    eventually([] { return g_handled.load() >= 5; }, 60);
    (void)!write(p.w, "r", 1);
  });
  const struct aiocb* list[1] = {&cb};
  int r;
  {
    Nagger nag(pthread_self());
    r = aio_suspend(list, 1, nullptr);
  }
  finisher.join();
  EXPECT_EQ(r, 0);
  EXPECT_GE(g_handled.load(), 5);
  EXPECT_EQ(aio_error(&cb), 0);
  signal(SIGUSR1, SIG_IGN);
}

TEST_F(Aio, SuspendIsACancellationPoint) {
  Pipe p;
  char c;
  struct aiocb cb = make_cb(p.r, &c, 1);
  ASSERT_EQ(aio_read(&cb), 0);
  std::atomic<bool> started{false};
  struct Args {
    struct aiocb* cb;
    std::atomic<bool>* started;
  } args{&cb, &started};
  pthread_t t;
  ASSERT_EQ(pthread_create(
                &t, nullptr,
                [](void* a) -> void* {
                  auto* args = static_cast<Args*>(a);
                  const struct aiocb* list[1] = {args->cb};
                  *args->started = true;
                  for (;;) aio_suspend(list, 1, nullptr);
                },
                &args),
            0);
  ASSERT_TRUE(eventually([&] { return started.load(); }));
  ASSERT_EQ(pthread_cancel(t), 0);
  void* result;
  ASSERT_EQ(pthread_join(t, &result), 0);
  EXPECT_EQ(result, PTHREAD_CANCELED);
  // The pool is unharmed: the request still completes and wakes a suspender.
  std::thread writer([&] { (void)!write(p.w, "k", 1); });
  const struct aiocb* list[1] = {&cb};
  while (aio_error(&cb) == EINPROGRESS) EXPECT_EQ(aio_suspend(list, 1, nullptr), 0);
  writer.join();
  EXPECT_EQ(aio_return(&cb), 1);
}

// --- lio_listio ------------------------------------------------------------------------------

TEST_F(Aio, LioWaitRunsTheListAndSkipsNullAndNop) {
  TempFile f;
  char a[] = "AAAA", b[] = "BBBB", back[9] = {};
  struct aiocb w1 = make_cb(f.fd, a, 4, 0, LIO_WRITE);
  struct aiocb nop = make_cb(f.fd, b, 4, 100, LIO_NOP);
  struct aiocb w2 = make_cb(f.fd, b, 4, 4, LIO_WRITE);
  struct aiocb* list[4] = {&w1, nullptr, &nop, &w2};
  ASSERT_EQ(lio_listio(LIO_WAIT, list, 4, nullptr), 0);
  EXPECT_EQ(aio_error(&w1), 0);
  EXPECT_EQ(aio_return(&w2), 4);
  EXPECT_EQ(nop.__error_code, 0);  // untouched
  struct aiocb r = make_cb(f.fd, back, 8, 0, LIO_READ);
  struct aiocb* rl[1] = {&r};
  ASSERT_EQ(lio_listio(LIO_WAIT, rl, 1, nullptr), 0);
  EXPECT_STREQ(back, "AAAABBBB");
  EXPECT_EQ(lio_listio(LIO_WAIT, rl, 0, nullptr), 0);
}

TEST_F(Aio, LioWaitReportsFailuresAsEio) {
  TempFile f;
  char buf[4] = "ok!";
  struct aiocb good = make_cb(f.fd, buf, 3, 0, LIO_WRITE);
  struct aiocb badfd = make_cb(987654, buf, 3, 0, LIO_READ);
  struct aiocb* list[2] = {&good, &badfd};
  errno = 0;
  EXPECT_EQ(lio_listio(LIO_WAIT, list, 2, nullptr), -1);
  EXPECT_EQ(errno, EIO);
  EXPECT_EQ(aio_return(&good), 3);
  EXPECT_EQ(aio_error(&badfd), EBADF);

  // An opcode that is neither read, write nor nop fails asynchronously.
  struct aiocb odd = make_cb(f.fd, buf, 3, 0, 42);
  struct aiocb* ol[1] = {&odd};
  errno = 0;
  EXPECT_EQ(lio_listio(LIO_WAIT, ol, 1, nullptr), -1);
  EXPECT_EQ(errno, EIO);
  EXPECT_EQ(aio_error(&odd), EINVAL);
  EXPECT_EQ(odd.aio_lio_opcode, 42);

  // An entry refused at submission: EIO if others were submitted...
  struct aiocb prio = make_cb(f.fd, buf, 3, 0, LIO_WRITE);
  prio.aio_reqprio = -1;
  struct aiocb* pl[2] = {&prio, &good};
  errno = 0;
  EXPECT_EQ(lio_listio(LIO_WAIT, pl, 2, nullptr), -1);
  EXPECT_EQ(errno, EIO);
  EXPECT_EQ(aio_error(&prio), EINVAL);
  EXPECT_EQ(aio_error(&good), 0);
  // ...its own errno if nothing was.
  errno = 0;
  EXPECT_EQ(lio_listio(LIO_WAIT, pl, 1, nullptr), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST_F(Aio, LioArgumentErrors) {
  struct aiocb* list[1] = {nullptr};
  for (int mode : {-1, 2, 128, LIO_WAIT | 128}) {
    errno = 0;
    EXPECT_EQ(lio_listio(mode, list, 1, nullptr), -1) << mode;
    EXPECT_EQ(errno, EINVAL);
  }
  errno = 0;
  EXPECT_EQ(lio_listio(LIO_WAIT, list, -1, nullptr), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST_F(Aio, LioNowaitNotifiesTheListAndEachEntry) {
  int list_sig = test_signal(0), entry_sig = test_signal(1);
  TempFile f;
  char a[] = "12", b[] = "34";
  struct aiocb w1 = make_cb(f.fd, a, 2, 0, LIO_WRITE);
  struct aiocb w2 = make_cb(f.fd, b, 2, 2, LIO_WRITE);
  for (struct aiocb* cb : {&w1, &w2}) {
    cb->aio_sigevent.sigev_notify = SIGEV_SIGNAL;
    cb->aio_sigevent.sigev_signo = entry_sig;
    cb->aio_sigevent.sigev_value.sival_ptr = cb;
  }
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = list_sig;
  sev.sigev_value.sival_int = 1234;
  struct aiocb* list[2] = {&w1, &w2};
  ASSERT_EQ(lio_listio(LIO_NOWAIT, list, 2, &sev), 0);
  siginfo_t info;
  ASSERT_TRUE(take_signal(list_sig, &info, 60));
  EXPECT_EQ(info.si_code, SI_ASYNCIO);
  EXPECT_EQ(info.si_value.sival_int, 1234);
  EXPECT_EQ(aio_error(&w1), 0);  // both final before the list's signal
  EXPECT_EQ(aio_error(&w2), 0);
  EXPECT_EQ(w1.aio_sigevent.sigev_notify, SIGEV_SIGNAL);  // the new ABI leaves entries alone
  ASSERT_TRUE(take_signal(entry_sig, &info, 60));
  ASSERT_TRUE(take_signal(entry_sig, &info, 60));
  EXPECT_EQ(drain(entry_sig) + drain(list_sig), 0);
  EXPECT_EQ(f.contents(), "1234");
}

TEST_F(Aio, LioNowaitWithNothingSubmittedNotifiesAtOnce) {
  int sig = test_signal(0);
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = sig;
  struct aiocb nop = make_cb(0, nullptr, 0, 0, LIO_NOP);
  struct aiocb* list[2] = {nullptr, &nop};
  ASSERT_EQ(lio_listio(LIO_NOWAIT, list, 2, &sev), 0);
  siginfo_t info;
  EXPECT_TRUE(take_signal(sig, &info, 60));
  EXPECT_EQ(lio_listio(LIO_NOWAIT, list, 0, nullptr), 0);
}

TEST_F(Aio, LioNowaitSigevThread) {
  TempFile f;
  char a[] = "t";
  Callback c;
  struct aiocb w = make_cb(f.fd, a, 1, 0, LIO_WRITE);
  c.cb = &w;
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD;
  sev.sigev_notify_function = record;
  sev.sigev_value.sival_ptr = &c;
  struct aiocb* list[1] = {&w};
  ASSERT_EQ(lio_listio(LIO_NOWAIT, list, 1, &sev), 0);
  ASSERT_TRUE(eventually([&] { return c.calls.load() == 1; }, 60));
  EXPECT_EQ(c.error, 0);
  EXPECT_EQ(c.ret, 1);
}

TEST_F(Aio, LioNowaitReportsARefusedEntryButRunsTheOthers) {
  TempFile f;
  char a[] = "a";
  struct aiocb good = make_cb(f.fd, a, 1, 0, LIO_WRITE);
  struct aiocb bad = make_cb(f.fd, a, 1, 0, LIO_WRITE);
  bad.aio_reqprio = 99;
  struct aiocb* list[2] = {&bad, &good};
  errno = 0;
  EXPECT_EQ(lio_listio(LIO_NOWAIT, list, 2, nullptr), -1);
  EXPECT_EQ(errno, EINVAL);
  ASSERT_TRUE(done(good));
  EXPECT_EQ(aio_error(&good), 0);
  EXPECT_EQ(aio_error(&bad), EINVAL);
}

TEST_F(Aio, LioWaitInterruptedByAHandlerReturnsEintrAndTheRequestsGoOn) {
  handle_sigusr1(/*restart=*/false);
  Pipe p;
  char c;
  struct aiocb r = make_cb(p.r, &c, 1, 0, LIO_READ);
  struct aiocb* list[1] = {&r};
  int ret, e;
  {
    Nagger nag(pthread_self());
    ret = lio_listio(LIO_WAIT, list, 1, nullptr);
    e = errno;
  }
  EXPECT_EQ(ret, -1);
  EXPECT_EQ(e, EINTR);
  // The request outlives the call (and must not touch its finished frame).
  ASSERT_EQ(write(p.w, "L", 1), 1);
  ASSERT_TRUE(done(r));
  EXPECT_EQ(c, 'L');
  signal(SIGUSR1, SIG_IGN);
}

TEST_F(Aio, LioListioSixtyFourHasTheSameBehaviour) {
  TempFile f;
  char buf[2] = "q";
  struct aiocb64 w;
  memset(&w, 0, sizeof w);
  w.aio_fildes = 987654;
  w.aio_buf = buf;
  w.aio_nbytes = 1;
  w.aio_lio_opcode = LIO_WRITE;
  struct aiocb64* list[1] = {&w};
  errno = 0;
  EXPECT_EQ(lio_listio64(LIO_WAIT, list, 1, nullptr), -1);
  EXPECT_EQ(errno, EIO);
  EXPECT_EQ(aio_error64(&w), EBADF);
}


// --- Everything at once ------------------------------------------------------------------

TEST_F(Aio, ThreadsMixingEveryCallLeaveNothingPendingOrWrong) {
  // Four threads, each with its own pipe and region of a shared file, submit,
  // cancel, suspend and list concurrently; every result must be the right one.
  TempFile f;
  constexpr int kThreads = 4, kRounds = 150;
  std::atomic<int> failures{0};
  auto body = [&](int t) {
    Pipe p;
    for (int round = 0; round < kRounds; ++round) {
      char out[8], in[8] = {}, c = 0;
      snprintf(out, sizeof out, "%d%06d", t, round);
      off_t at = (off_t)(t * kRounds + round) * 8;
      struct aiocb w = make_cb(f.fd, out, 8, at, LIO_WRITE);
      struct aiocb r = make_cb(f.fd, in, 8, at, LIO_READ);
      struct aiocb* list[1] = {&w};
      if (lio_listio(LIO_WAIT, list, 1, nullptr) != 0 || aio_return(&w) != 8) ++failures;
      if (aio_read(&r) != 0 || !done(r) || aio_return(&r) != 8 || memcmp(in, out, 8) != 0)
        ++failures;
      // A read that blocks, one queued behind it that is canceled, then data.
      struct aiocb blocked = make_cb(p.r, &c, 1), behind = make_cb(p.r, &c, 1);
      if (aio_read(&blocked) != 0 || aio_read(&behind) != 0) ++failures;
      int canceled = aio_cancel(p.r, &behind);
      if (canceled != AIO_CANCELED && canceled != AIO_NOTCANCELED) ++failures;
      if (write(p.w, "xy", canceled == AIO_CANCELED ? 1 : 2) < 1) ++failures;
      const struct aiocb* both[2] = {&blocked, &behind};
      while (aio_error(&blocked) == EINPROGRESS || aio_error(&behind) == EINPROGRESS)
        if (aio_suspend(both, 2, nullptr) != 0) ++failures;
      if (aio_return(&blocked) != 1) ++failures;
      if (canceled == AIO_CANCELED && aio_error(&behind) != ECANCELED) ++failures;
      if (canceled == AIO_NOTCANCELED && aio_return(&behind) != 1) ++failures;
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(body, t);
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  std::string contents = f.contents();
  ASSERT_EQ(contents.size(), (size_t)kThreads * kRounds * 8);
  for (int t = 0; t < kThreads; ++t)
    for (int round = 0; round < kRounds; ++round) {
      char want[9];
      snprintf(want, sizeof want, "%d%06d", t, round);
      ASSERT_EQ(contents.compare((size_t)(t * kRounds + round) * 8, 8, want, 8), 0);  // with its NUL
    }
}

// --- The GLIBC_2.2.5 lio_listio (x86_64), reached by its exact version --------------

using LioFn = int (*)(int, struct aiocb* const[], int, struct sigevent*);

LioFn our_symbol(const char* name, const char* version) {
  void* librt = dlopen("librt.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (librt == nullptr) return nullptr;
  // The librt this test was linked with is ours: the default lio_listio
  // found there must be the very function the bound calls reach.
  if (dlvsym(librt, "lio_listio", LAMBSHM_VERSION_lio_listio) != (void*)&lio_listio) return nullptr;
  return reinterpret_cast<LioFn>(dlvsym(librt, name, version));
}

#ifdef LAMBSHM_COMPAT_lio_listio_2_2_5
class OldLio : public Aio, public ::testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override {
    Aio::SetUp();
    std::string name = GetParam();
    old_ = our_symbol(name.c_str(), name == "lio_listio" ? LAMBSHM_COMPAT_lio_listio_2_2_5
                                                           : LAMBSHM_COMPAT_lio_listio64_2_2_5);
    ASSERT_NE(old_, nullptr) << dlerror();
    new_ = our_symbol(name.c_str(), name == "lio_listio" ? LAMBSHM_VERSION_lio_listio
                                                           : LAMBSHM_VERSION_lio_listio64);
    ASSERT_NE(new_, nullptr);
    ASSERT_NE(old_, new_);
  }
  LioFn old_ = nullptr, new_ = nullptr;
};

TEST_P(OldLio, NotifiesOnlyTheListAndRewritesTheEntriesSigevents) {
  int list_sig = test_signal(0), entry_sig = test_signal(1);
  TempFile f;
  char a[] = "ab", b[] = "cd";
  struct aiocb w1 = make_cb(f.fd, a, 2, 0, LIO_WRITE), w2 = make_cb(f.fd, b, 2, 2, LIO_WRITE);
  struct aiocb nop = make_cb(f.fd, a, 2, 0, LIO_NOP);
  for (struct aiocb* cb : {&w1, &w2, &nop}) {
    cb->aio_sigevent.sigev_notify = SIGEV_SIGNAL;
    cb->aio_sigevent.sigev_signo = entry_sig;
  }
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = list_sig;
  sev.sigev_value.sival_int = 25;
  struct aiocb* list[4] = {&w1, nullptr, &nop, &w2};
  ASSERT_EQ(old_(LIO_NOWAIT, list, 4, &sev), 0);
  EXPECT_EQ(w1.aio_sigevent.sigev_notify, SIGEV_NONE);  // as glibc's compat symbol does
  EXPECT_EQ(w2.aio_sigevent.sigev_notify, SIGEV_NONE);
  EXPECT_EQ(nop.aio_sigevent.sigev_notify, SIGEV_SIGNAL);  // skipped entries are left alone
  siginfo_t info;
  ASSERT_TRUE(take_signal(list_sig, &info, 60));
  EXPECT_EQ(info.si_value.sival_int, 25);
  EXPECT_EQ(info.si_code, SI_ASYNCIO);
  ASSERT_TRUE(done(w1) && done(w2));
  EXPECT_EQ(drain(entry_sig), 0);
  EXPECT_EQ(f.contents(), "abcd");

  // LIO_WAIT: no entry signal either.
  w1.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
  struct aiocb* one[1] = {&w1};
  ASSERT_EQ(old_(LIO_WAIT, one, 1, nullptr), 0);
  EXPECT_EQ(w1.aio_sigevent.sigev_notify, SIGEV_NONE);
  EXPECT_EQ(drain(entry_sig), 0);

  // The same list through the default version keeps the entries' notifications.
  w1.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
  ASSERT_EQ(new_(LIO_WAIT, one, 1, nullptr), 0);
  EXPECT_EQ(w1.aio_sigevent.sigev_notify, SIGEV_SIGNAL);
  EXPECT_TRUE(take_signal(entry_sig, &info, 60));
}

TEST_P(OldLio, ChecksTheModeLikeTheNewOne) {
  struct aiocb* list[1] = {nullptr};
  for (int mode : {-1, 2, LIO_WAIT | 128, LIO_NOWAIT | 128}) {
    errno = 0;
    EXPECT_EQ(old_(mode, list, 1, nullptr), -1) << mode;
    EXPECT_EQ(errno, EINVAL);
  }
  TempFile f;
  char buf[1];
  struct aiocb bad = make_cb(987654, buf, 1, 0, LIO_READ);
  struct aiocb* one[1] = {&bad};
  errno = 0;
  EXPECT_EQ(old_(LIO_WAIT, one, 1, nullptr), -1);
  EXPECT_EQ(errno, EIO);
  EXPECT_EQ(aio_error(&bad), EBADF);
}

INSTANTIATE_TEST_SUITE_P(Versions, OldLio, ::testing::Values("lio_listio", "lio_listio64"));
#else
TEST(OldLio, NoOlderVersionOnThisArchitecture) {
  GTEST_SKIP() << "the abilist of this architecture has one lio_listio version only";
}
#endif

}  // namespace
}  // namespace lambshm::aio_test
