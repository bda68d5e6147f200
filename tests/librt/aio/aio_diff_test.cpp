// Differential: each scenario runs once with our librt and once with this
// machine's stock glibc 2.36 (libc.so.6, GLIBC_2.34 versions), reached with
// dlvsym; the transcripts of results, errno values, aiocb fields, data and
// notifications must be equal.  Only deterministic observations go in a
// transcript: a request that must stay pending reads an empty pipe until the
// scenario writes to it, and the return value of a request still in progress
// (undefined; glibc shows -1 there during a pipe read) is left out.
//
// Not compared here: the GLIBC_2.2.5 lio_listio.  Since glibc 2.34 moved it
// into libc, its compat entry is built with SHLIB_COMPAT(librt, ...) false:
// it neither waits in LIO_WAIT mode nor suppresses the entries' notifications
// (observed here).  The overlay suite compares it with glibc 2.31's librt,
// whose compat entry still has glibc 2.26's behaviour.
#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "aio_util.h"
#include "librt_versions.h"

namespace lambshm::aio_test {
namespace {

struct Impl {
  const char* name;
  int (*read)(struct aiocb*);
  int (*write)(struct aiocb*);
  int (*fsync)(int, struct aiocb*);
  int (*error)(const struct aiocb*);
  ssize_t (*ret)(struct aiocb*);
  int (*suspend)(const struct aiocb* const[], int, const struct timespec*);
  int (*cancel)(int, struct aiocb*);
  int (*lio)(int, struct aiocb* const[], int, struct sigevent*);
};

template <typename F>
void find(F* out, void* lib, const char* name, const char* version) {
  *out = reinterpret_cast<F>(dlvsym(lib, name, version));
  if (*out == nullptr) ADD_FAILURE() << name << "@" << version << ": " << dlerror();
}

Impl ours() {
  Impl i{};
  i.name = "lambshm";
  // Our librt by path (meson says where), looked up in by handle: never the
  // global scope, where libc's compat versions would answer.
  const char* path = getenv("LAMBSHM_LIBRT");
  if (path == nullptr) {
    ADD_FAILURE() << "LAMBSHM_LIBRT not set (run through meson test)";
    return i;
  }
  void* lib = dlopen(path, RTLD_NOW);
  if (lib == nullptr) {
    ADD_FAILURE() << dlerror();
    return i;
  }
  find(&i.read, lib, "aio_read", LAMBSHM_VERSION_aio_read);
  find(&i.write, lib, "aio_write", LAMBSHM_VERSION_aio_write);
  find(&i.fsync, lib, "aio_fsync", LAMBSHM_VERSION_aio_fsync);
  find(&i.error, lib, "aio_error", LAMBSHM_VERSION_aio_error);
  find(&i.ret, lib, "aio_return", LAMBSHM_VERSION_aio_return);
  find(&i.suspend, lib, "aio_suspend", LAMBSHM_VERSION_aio_suspend);
  find(&i.cancel, lib, "aio_cancel", LAMBSHM_VERSION_aio_cancel);
  find(&i.lio, lib, "lio_listio", LAMBSHM_VERSION_lio_listio);
  // It must be ours, not libc's compat aio_read (the machine's librt is a stub).
  Dl_info info;
  if (i.read != nullptr && dladdr(reinterpret_cast<void*>(i.read), &info) != 0) {
    EXPECT_STREQ(realpath(info.dli_fname, nullptr), realpath(path, nullptr));
  }
  return i;
}

Impl stock() {
  Impl i{};
  i.name = "glibc";
  void* lib = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  if (lib == nullptr) {
    ADD_FAILURE() << "libc.so.6 is not loaded";
    return i;
  }
  const char* v = "GLIBC_2.34";
  find(&i.read, lib, "aio_read", v);
  find(&i.write, lib, "aio_write", v);
  find(&i.fsync, lib, "aio_fsync", v);
  find(&i.error, lib, "aio_error", v);
  find(&i.ret, lib, "aio_return", v);
  find(&i.suspend, lib, "aio_suspend", v);
  find(&i.cancel, lib, "aio_cancel", v);
  find(&i.lio, lib, "lio_listio", v);
  return i;
}

// A transcript of observations.
class Log {
 public:
  // A call's return value, and errno when it failed.
  void call(const std::string& what, long r) {
    int e = errno;
    lines_.push_back(what + " = " + std::to_string(r) + (r == -1 ? " " + name(e) : ""));
  }
  // An aiocb's published state and the fields glibc writes at submission.
  void state(const Impl& impl, const std::string& what, struct aiocb& cb) {
    int e = impl.error(&cb);
    std::string ret = e == EINPROGRESS ? "?" : std::to_string(impl.ret(&cb));
    lines_.push_back(what + ": error " + name(e) + ", return " + ret +
                     ", opcode " + std::to_string(cb.aio_lio_opcode) + ", reqprio " +
                     std::to_string(cb.aio_reqprio) + ", abs_prio " + std::to_string(cb.__abs_prio) +
                     ", notify " + std::to_string(cb.aio_sigevent.sigev_notify));
  }
  // Only the fields written at submission (the result may or may not be in).
  void fields(const std::string& what, struct aiocb& cb) {
    lines_.push_back(what + ": opcode " + std::to_string(cb.aio_lio_opcode) + ", reqprio " +
                     std::to_string(cb.aio_reqprio) + ", notify " +
                     std::to_string(cb.aio_sigevent.sigev_notify));
  }
  void note(const std::string& line) { lines_.push_back(line); }
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  static std::string name(int e) { return e == 0 ? "0" : strerrorname_np(e); }
  std::vector<std::string> lines_;
};

#define CALL(log, expr) \
  do {                  \
    errno = 0;          \
    long r_ = (expr);   \
    log.call(#expr, r_); \
  } while (0)

bool wait(const Impl& impl, struct aiocb& cb) { return wait_done(&cb, impl.suspend, impl.error); }

std::string signals(int sig) {
  std::string out;
  siginfo_t info;
  struct timespec zero = {0, 0};
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  while (sigtimedwait(&set, &info, &zero) == sig)
    out += "[code " + std::to_string(info.si_code) + " value " +
           std::to_string(info.si_value.sival_int) + (info.si_pid == getpid() ? " our pid]" : " ?]");
  return out;
}

// --- Scenarios -------------------------------------------------------------------

void file_io(const Impl& a, Log& log) {
  TempFile f;
  char data[] = "0123456789", buf[11] = {};
  struct aiocb w = make_cb(f.fd, data, 10, 3);
  w.aio_reqprio = 2;
  CALL(log, a.write(&w));
  wait(a, w);
  log.state(a, "write", w);
  struct aiocb r = make_cb(f.fd, buf, 10, 5, 77);
  CALL(log, a.read(&r));
  wait(a, r);
  log.state(a, "read", r);
  log.note(std::string("read data ") + buf);
  struct aiocb eof = make_cb(f.fd, buf, 10, 500);
  CALL(log, a.read(&eof));
  wait(a, eof);
  log.state(a, "read at eof", eof);
  for (int op : {O_SYNC, O_DSYNC}) {
    struct aiocb s = make_cb(f.fd, nullptr, 0);
    s.aio_reqprio = 9;
    CALL(log, a.fsync(op, &s));
    wait(a, s);
    log.state(a, "fsync", s);
  }
  struct aiocb fresh = make_cb(f.fd, buf, 1);
  log.state(a, "never submitted", fresh);
}

void refused_at_submission(const Impl& a, Log& log) {
  TempFile f;
  char buf[4];
  for (int prio : {-1, AIO_PRIO_DELTA_MAX + 1}) {
    struct aiocb cb = make_cb(f.fd, buf, 1);
    cb.aio_reqprio = prio;
    CALL(log, a.read(&cb));
    log.state(a, "bad reqprio read", cb);
    CALL(log, a.write(&cb));
  }
  struct aiocb cb = make_cb(f.fd, buf, 1);
  CALL(log, a.fsync(0, &cb));
  CALL(log, a.fsync(O_RDWR, &cb));
  cb.aio_fildes = 987654;
  CALL(log, a.fsync(O_SYNC, &cb));
  cb.aio_fildes = f.reopen(O_RDONLY);  // accepted: fsync(2) accepts it
  CALL(log, a.fsync(O_DSYNC, &cb));
  wait(a, cb);
  close(cb.aio_fildes);
  log.state(a, "fsync of a read-only descriptor", cb);
}

void failing_io(const Impl& a, Log& log) {
  TempFile f;
  char buf[4] = "abc";
  int ro = f.reopen(O_RDONLY), wo = f.reopen(O_WRONLY);
  struct {
    const char* what;
    int fd;
    off_t offset;
    bool write;
  } cases[] = {{"bad fd read", 987654, 0, false}, {"bad fd write", -1, 0, true},
               {"negative offset read", f.fd, -1, false}, {"negative offset write", f.fd, -9, true},
               {"write to read-only fd", ro, 0, true}, {"read from write-only fd", wo, 0, false}};
  for (auto& c : cases) {
    struct aiocb cb = make_cb(c.fd, buf, 3, c.offset);
    CALL(log, c.write ? a.write(&cb) : a.read(&cb));
    wait(a, cb);
    log.state(a, c.what, cb);
  }
  close(ro);
  close(wo);
  // A signal number the kernel refuses: the notification failure is the result.
  int sig = test_signal(0);
  struct aiocb bad = make_cb(f.fd, buf, 3);
  bad.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
  bad.aio_sigevent.sigev_signo = 100;
  CALL(log, a.write(&bad));
  wait(a, bad);
  log.state(a, "bad signal number", bad);
  log.note("file " + f.contents());
  struct aiocb good = make_cb(f.fd, buf, 3, 3);
  good.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
  good.aio_sigevent.sigev_signo = sig;
  good.aio_sigevent.sigev_value.sival_int = 31;
  CALL(log, a.write(&good));
  wait(a, good);
  siginfo_t info;
  log.note(take_signal(sig, &info, 60) ? "signal came" : "no signal");
  log.note("signal " + std::to_string(info.si_code) + " " + std::to_string(info.si_value.sival_int) +
           (info.si_pid == getpid() ? " our pid" : " other pid"));
  log.note("more: " + signals(sig));
}

void pipe_order_and_priority(const Impl& a, Log& log) {
  Pipe p;
  char got[6] = {};
  int prios[6] = {0, 5, 0, 3, 0, 20};
  struct aiocb cbs[6];
  for (int i = 0; i < 6; ++i) {
    cbs[i] = make_cb(p.r, &got[i], 1, 1000);
    cbs[i].aio_reqprio = prios[i];
    CALL(log, a.read(&cbs[i]));
  }
  eventually([&] { return blocked_in_read(p.r); });
  CALL(log, write(p.w, "ABCDEF", 6));
  for (auto& cb : cbs) wait(a, cb);
  log.note(std::string("order ") + std::string(got, 6));
  char out[] = "piped";
  struct aiocb w = make_cb(p.w, out, 5, 77);
  CALL(log, a.write(&w));
  wait(a, w);
  log.state(a, "pipe write", w);
}

void cancellation(const Impl& a, Log& log) {
  Pipe p;
  char buf[4] = {};
  CALL(log, a.cancel(987654, nullptr));
  CALL(log, a.cancel(p.r, nullptr));
  struct aiocb cbs[4];
  for (int i = 0; i < 4; ++i) {
    cbs[i] = make_cb(p.r, &buf[i], 1);
    CALL(log, a.read(&cbs[i]));
  }
  eventually([&] { return blocked_in_read(p.r); });
  CALL(log, a.cancel(p.w, &cbs[1]));  // another descriptor's request
  CALL(log, a.cancel(p.r, &cbs[0]));  // running
  CALL(log, a.cancel(p.r, &cbs[2]));  // queued
  log.state(a, "canceled", cbs[2]);
  CALL(log, a.cancel(p.r, &cbs[2]));  // already done
  CALL(log, a.cancel(p.r, nullptr));  // all but the running one
  log.state(a, "canceled with the descriptor", cbs[3]);
  log.state(a, "running", cbs[0]);
  struct aiocb stranger = make_cb(p.r, buf, 1);
  stranger.__error_code = EINPROGRESS;  // says pending, was never submitted
  CALL(log, a.cancel(p.r, &stranger));
  CALL(log, write(p.w, "Z", 1));
  wait(a, cbs[0]);
  log.state(a, "finished", cbs[0]);
  log.note(std::string("data ") + buf[0]);
  CALL(log, a.cancel(p.r, &cbs[0]));
  CALL(log, a.cancel(p.r, nullptr));
}

void suspending(const Impl& a, Log& log) {
  Pipe p;
  TempFile f;
  char c, d = 'd';
  struct aiocb done_cb = make_cb(f.fd, &d, 1);
  CALL(log, a.write(&done_cb));
  wait(a, done_cb);
  struct aiocb pending = make_cb(p.r, &c, 1);
  CALL(log, a.read(&pending));
  const struct aiocb* list[3] = {nullptr, &pending, &done_cb};
  const struct aiocb* nulls[2] = {nullptr, nullptr};
  CALL(log, a.suspend(list, -1, nullptr));
  CALL(log, a.suspend(list, 0, nullptr));
  CALL(log, a.suspend(nulls, 2, nullptr));
  CALL(log, a.suspend(list, 3, nullptr));  // one has finished
  struct timespec zero = {0, 0}, short_time = {0, 10000000};
  CALL(log, a.suspend(list, 2, &zero));
  CALL(log, a.suspend(list, 2, &short_time));
  CALL(log, write(p.w, "s", 1));
  struct timespec long_time = {600, 0};
  CALL(log, a.suspend(list, 2, &long_time));
  log.state(a, "pending", pending);
}

void listio(const Impl& a, Log& log) {
  TempFile f;
  char x[] = "XXXX", y[] = "YYYY", back[9] = {};
  struct aiocb* none[1] = {nullptr};
  for (int mode : {-1, 2, LIO_WAIT | 128, LIO_NOWAIT | 128}) CALL(log, a.lio(mode, none, 1, nullptr));
  CALL(log, a.lio(LIO_WAIT, none, 0, nullptr));
  CALL(log, a.lio(LIO_NOWAIT, none, 1, nullptr));

  struct aiocb w1 = make_cb(f.fd, x, 4, 0, LIO_WRITE), nop = make_cb(f.fd, y, 4, 50, LIO_NOP);
  struct aiocb w2 = make_cb(f.fd, y, 4, 4, LIO_WRITE);
  struct aiocb* list[4] = {&w1, nullptr, &nop, &w2};
  CALL(log, a.lio(LIO_WAIT, list, 4, nullptr));
  log.state(a, "w1", w1);
  log.state(a, "nop", nop);
  log.state(a, "w2", w2);

  struct aiocb r = make_cb(f.fd, back, 8, 0, 128);  // LIO_READ | 128: glibc reads
  struct aiocb odd = make_cb(f.fd, back, 8, 0, 42);
  struct aiocb sync = make_cb(f.fd, nullptr, 0, 0, LIO_NOP + 2);  // glibc's LIO_SYNC
  struct aiocb bad = make_cb(987654, back, 1, 0, LIO_READ);
  struct aiocb* mixed[4] = {&r, &odd, &sync, &bad};
  CALL(log, a.lio(LIO_WAIT, mixed, 4, nullptr));
  log.state(a, "opcode 128", r);
  log.note(std::string("read back ") + back);
  log.state(a, "opcode 42", odd);
  log.state(a, "opcode sync", sync);
  log.state(a, "bad fd", bad);

  struct aiocb refused = make_cb(f.fd, x, 1, 0, LIO_WRITE);
  refused.aio_reqprio = -3;
  struct aiocb fine = make_cb(f.fd, y, 1, 8, LIO_WRITE);
  struct aiocb* partly[2] = {&refused, &fine};
  CALL(log, a.lio(LIO_WAIT, partly, 2, nullptr));
  CALL(log, a.lio(LIO_WAIT, partly, 1, nullptr));
  CALL(log, a.lio(LIO_NOWAIT, partly, 2, nullptr));
  wait(a, fine);
  log.state(a, "refused", refused);
  log.state(a, "fine", fine);
  log.note("file " + f.contents());
}

void listio_notifications(const Impl& a, Log& log) {
  auto lio = a.lio;
  int list_sig = test_signal(0), entry_sig = test_signal(1);
  TempFile f;
  char x[] = "ab";
  struct aiocb w1 = make_cb(f.fd, x, 2, 0, LIO_WRITE), w2 = make_cb(f.fd, x, 2, 2, LIO_WRITE);
  struct aiocb nop = make_cb(f.fd, x, 2, 0, LIO_NOP);
  int value = 40;
  for (struct aiocb* cb : {&w1, &w2, &nop}) {
    cb->aio_sigevent.sigev_notify = SIGEV_SIGNAL;
    cb->aio_sigevent.sigev_signo = entry_sig;
    cb->aio_sigevent.sigev_value.sival_int = value++;
  }
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = list_sig;
  sev.sigev_value.sival_int = 7;
  struct aiocb* list[3] = {&w1, &nop, &w2};
  CALL(log, lio(LIO_NOWAIT, list, 3, &sev));
  log.fields("w1 after submission", w1);
  log.fields("nop after submission", nop);
  siginfo_t info;
  log.note(take_signal(list_sig, &info, 60) ? "list signal came" : "no list signal");
  log.note("list signal " + std::to_string(info.si_code) + " " + std::to_string(info.si_value.sival_int));
  wait(a, w1);
  wait(a, w2);
  // Entry signals are queued before the list's: all are here by now.
  std::string entries = signals(entry_sig);
  log.note("entry signals: " + std::to_string(std::count(entries.begin(), entries.end(), '[')));
  log.note("more list signals: " + signals(list_sig));
  // Nothing submitted: the list's notification comes at once.
  struct aiocb* nops[1] = {&nop};
  CALL(log, lio(LIO_NOWAIT, nops, 1, &sev));
  log.note("empty list: " + signals(list_sig));
  w1.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
  struct aiocb* one[1] = {&w1};
  CALL(log, lio(LIO_WAIT, one, 1, &sev));
  log.state(a, "w1 after LIO_WAIT", w1);
  log.note("after LIO_WAIT: entries " + signals(entry_sig) + " list " + signals(list_sig));
}

struct Scenario {
  const char* name;
  void (*run)(const Impl&, Log&);
};

const Scenario kScenarios[] = {
    {"FileIo", file_io},
    {"RefusedAtSubmission", refused_at_submission},
    {"FailingIo", failing_io},
    {"PipeOrderAndPriority", pipe_order_and_priority},
    {"Cancellation", cancellation},
    {"Suspending", suspending},
    {"Listio", listio},
    {"ListioNotifications", listio_notifications},
};

class Differential : public ::testing::TestWithParam<Scenario> {
 protected:
  void SetUp() override {
    for (int i = 0; i < 2; ++i) block(test_signal(i));
  }
};

TEST_P(Differential, SameTranscriptAsStockGlibc) {
  Impl mine = ours(), theirs = stock();
  if (HasFailure()) return;
  Log a, b;
  GetParam().run(mine, a);
  GetParam().run(theirs, b);
  ASSERT_FALSE(b.lines().empty());
  EXPECT_EQ(a.lines(), b.lines()) << "left: lambshm, right: stock glibc";
  for (size_t i = 0; i < a.lines().size() && i < b.lines().size(); ++i)
    if (a.lines()[i] != b.lines()[i])
      ADD_FAILURE() << "first difference, line " << i << "\n  lambshm: " << a.lines()[i]
                    << "\n  glibc:   " << b.lines()[i];
  if (::testing::Test::HasFailure() || getenv("LAMBSHM_SHOW_TRANSCRIPT") != nullptr)
    for (const std::string& line : b.lines()) printf("  glibc: %s\n", line.c_str());
}

INSTANTIATE_TEST_SUITE_P(Aio, Differential, ::testing::ValuesIn(kScenarios),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace lambshm::aio_test
