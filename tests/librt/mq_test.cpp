// mq_* and __mq_open_2 (GLIBC_2.3.4/2.7 on x86_64, GLIBC_2.17 on aarch64)
// through our librt: names, flags, attributes, I/O, notification of every
// kind, cancellation points, the fortify check, and the kernel's errno when
// it refuses, with stock glibc 2.36 (libc's GLIBC_2.34 versions) as the
// reference wherever the results are deterministic.
//
// The executable runs in its own IPC namespace when it can (root), so no
// queue of it can outlive it or meet another program's.
#include "rt_abi.h"

// Null arguments are passed on purpose.
#pragma GCC diagnostic ignored "-Wnonnull"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "gtest_exit.h"
#include "rt_util.h"
#include "stock_rt.h"
#include "test_util.h"

namespace lambshm::test {
namespace {

struct Impl {
  const char* name;
  mqd_t (*open)(const char*, int, mode_t, struct mq_attr*);
  int (*close)(mqd_t);
  int (*unlink)(const char*);
  int (*getattr)(mqd_t, struct mq_attr*);
  int (*setattr)(mqd_t, const struct mq_attr*, struct mq_attr*);
  int (*send)(mqd_t, const char*, size_t, unsigned);
  ssize_t (*receive)(mqd_t, char*, size_t, unsigned*);
  int (*timedsend)(mqd_t, const char*, size_t, unsigned, const struct timespec*);
  ssize_t (*timedreceive)(mqd_t, char*, size_t, unsigned*, const struct timespec*);
  int (*notify)(mqd_t, const struct sigevent*);
};

mqd_t our_open(const char* name, int oflag, mode_t mode, struct mq_attr* attr) {
  return mq_open(name, oflag, mode, attr);
}

const Impl kOurs = {"lambshm", our_open, mq_close, mq_unlink, mq_getattr, mq_setattr, mq_send,
                    mq_receive, mq_timedsend, mq_timedreceive, mq_notify};
const Impl kStock = {"stock", stock_rt::mq_open, stock_rt::mq_close, stock_rt::mq_unlink,
                     stock_rt::mq_getattr, stock_rt::mq_setattr, stock_rt::mq_send,
                     stock_rt::mq_receive, stock_rt::mq_timedsend, stock_rt::mq_timedreceive,
                     stock_rt::mq_notify};

template <typename F>
Outcome outcome(F f) {
  errno = 0;
  long r = f();
  return {r < 0 ? -1 : 0, r < 0 ? errno : 0};
}

std::string queue_name(const char* tag) { return "/" + unique_name(tag); }

struct mq_attr small_attr(long maxmsg = 4, long msgsize = 64) {
  struct mq_attr a = {};
  a.mq_maxmsg = maxmsg;
  a.mq_msgsize = msgsize;
  return a;
}

// A fresh queue, unlinked at once (the descriptor keeps it alive).
mqd_t fresh_queue(const Impl& impl, int oflag = O_RDWR, long maxmsg = 4, long msgsize = 64) {
  std::string name = queue_name("q");
  struct mq_attr a = small_attr(maxmsg, msgsize);
  mqd_t q = impl.open(name.c_str(), oflag | O_CREAT | O_EXCL, 0600, &a);
  EXPECT_GE(q, 0) << impl.name << ": " << strerror(errno);
  impl.unlink(name.c_str());
  return q;
}

TEST(Mq, BoundToOurLibrt) {
  EXPECT_EQ((void*)&mq_open, ours("mq_open", LAMBSHM_VERSION_mq_open));
  EXPECT_EQ((void*)&__mq_open_2, ours("__mq_open_2", LAMBSHM_VERSION___mq_open_2));
  EXPECT_EQ((void*)&mq_close, ours("mq_close", LAMBSHM_VERSION_mq_close));
  EXPECT_EQ((void*)&mq_unlink, ours("mq_unlink", LAMBSHM_VERSION_mq_unlink));
  EXPECT_EQ((void*)&mq_getattr, ours("mq_getattr", LAMBSHM_VERSION_mq_getattr));
  EXPECT_EQ((void*)&mq_setattr, ours("mq_setattr", LAMBSHM_VERSION_mq_setattr));
  EXPECT_EQ((void*)&mq_send, ours("mq_send", LAMBSHM_VERSION_mq_send));
  EXPECT_EQ((void*)&mq_receive, ours("mq_receive", LAMBSHM_VERSION_mq_receive));
  EXPECT_EQ((void*)&mq_timedsend, ours("mq_timedsend", LAMBSHM_VERSION_mq_timedsend));
  EXPECT_EQ((void*)&mq_timedreceive, ours("mq_timedreceive", LAMBSHM_VERSION_mq_timedreceive));
  EXPECT_EQ((void*)&mq_notify, ours("mq_notify", LAMBSHM_VERSION_mq_notify));
  EXPECT_NE(library_of((void*)&mq_open).find("librt.so.1"), std::string::npos);
}

// --- names ----------------------------------------------------------------------

std::vector<std::string> names_to_try() {
  std::string unique = unique_name("n");
  std::string longest = "/" + unique + std::string(255 - unique.size(), 'x');  // NAME_MAX
  return {"noslash" + unique, "", "/", "//" + unique, "/a/" + unique, "/.", "/..",
          longest, longest + "y", "/" + unique, "/" + unique + " with space"};
}

TEST(Mq, NamesMatchStock) {
  for (const std::string& name : names_to_try()) {
    for (int oflag : {O_RDWR | O_CREAT | O_EXCL, O_RDWR}) {
      struct mq_attr a = small_attr();
      mqd_t q = -1;
      Outcome mine = outcome([&] { return q = mq_open(name.c_str(), oflag, 0600, &a); });
      if (q >= 0) mq_close(q);
      Outcome unlink_mine = outcome([&] { return mq_unlink(name.c_str()); });
      Outcome theirs = outcome([&] { return q = stock_rt::mq_open(name.c_str(), oflag, 0600, &a); });
      if (q >= 0) stock_rt::mq_close(q);
      Outcome unlink_theirs = outcome([&] { return stock_rt::mq_unlink(name.c_str()); });
      EXPECT_EQ(mine, theirs) << "mq_open(\"" << name << "\", " << oflag << ")";
      EXPECT_EQ(unlink_mine, unlink_theirs) << "mq_unlink(\"" << name << "\")";
    }
  }
  EXPECT_EQ(outcome([] { return mq_open(nullptr, O_RDONLY); }), (Outcome{-1, EINVAL}));
  EXPECT_EQ(outcome([] { return mq_unlink(nullptr); }), (Outcome{-1, EINVAL}));
  EXPECT_EQ(outcome([] { return mq_open("x", O_RDONLY); }), (Outcome{-1, EINVAL}));
  EXPECT_EQ(outcome([] { return mq_unlink("x"); }), (Outcome{-1, EINVAL}));
}

// --- mq_open: flags and attributes ----------------------------------------------

enum OpenCase { kExclOnExisting, kMissing, kZeroMaxmsg, kZeroMsgsize, kNegativeMaxmsg,
                kHugeMsgsize, kNullAttr, kReopenIgnoresAttr, kReadOnly, kBadAccessMode,
                kNonblockFlag, kNumOpenCases };

Outcome open_case(const Impl& impl, int which, struct mq_attr* out) {
  std::string name = queue_name("open");
  struct mq_attr a = small_attr();
  Outcome o{0, 0};
  mqd_t q = -1;
  auto open = [&](int oflag, struct mq_attr* attr) {
    o = outcome([&] { return q = impl.open(name.c_str(), oflag, 0600, attr); });
  };
  switch (which) {
    case kExclOnExisting:
      impl.close(impl.open(name.c_str(), O_RDWR | O_CREAT, 0600, &a));
      open(O_RDWR | O_CREAT | O_EXCL, &a);
      break;
    case kMissing: open(O_RDWR, nullptr); break;
    case kZeroMaxmsg: a.mq_maxmsg = 0; open(O_RDWR | O_CREAT, &a); break;
    case kZeroMsgsize: a.mq_msgsize = 0; open(O_RDWR | O_CREAT, &a); break;
    case kNegativeMaxmsg: a.mq_maxmsg = -1; open(O_RDWR | O_CREAT, &a); break;
    case kHugeMsgsize: a.mq_msgsize = 1L << 30; open(O_RDWR | O_CREAT, &a); break;
    case kNullAttr: open(O_RDWR | O_CREAT, nullptr); break;
    case kReopenIgnoresAttr: {
      impl.close(impl.open(name.c_str(), O_RDWR | O_CREAT, 0600, &a));
      struct mq_attr other = small_attr(2, 16);
      open(O_RDWR | O_CREAT, &other);
      break;
    }
    case kReadOnly: open(O_RDONLY | O_CREAT, &a); break;
    case kBadAccessMode: open(O_ACCMODE | O_CREAT, &a); break;
    case kNonblockFlag: open(O_RDWR | O_CREAT | O_NONBLOCK, &a); break;
  }
  memset(out, 0, sizeof *out);
  if (q >= 0) {
    impl.getattr(q, out);
    impl.close(q);
  }
  impl.unlink(name.c_str());
  return o;
}

TEST(Mq, OpenFlagsAndAttributesMatchStock) {
  for (int which = 0; which < kNumOpenCases; ++which) {
    struct mq_attr mine, theirs;
    EXPECT_EQ(open_case(kOurs, which, &mine), open_case(kStock, which, &theirs)) << which;
    EXPECT_EQ(mine.mq_flags, theirs.mq_flags) << which;
    EXPECT_EQ(mine.mq_maxmsg, theirs.mq_maxmsg) << which;
    EXPECT_EQ(mine.mq_msgsize, theirs.mq_msgsize) << which;
  }
  struct mq_attr a;
  EXPECT_EQ(open_case(kOurs, kMissing, &a), (Outcome{-1, ENOENT}));
  EXPECT_EQ(open_case(kOurs, kExclOnExisting, &a), (Outcome{-1, EEXIST}));
  EXPECT_EQ(open_case(kOurs, kZeroMaxmsg, &a), (Outcome{-1, EINVAL}));
  EXPECT_EQ(open_case(kOurs, kReopenIgnoresAttr, &a), (Outcome{0, 0}));
  EXPECT_EQ(a.mq_maxmsg, 4);
}

TEST(Mq, DescriptorsAreCloseOnExecAsStock) {
  // Linux creates every queue descriptor close-on-exec, O_CLOEXEC or not.
  for (const Impl* impl : {&kOurs, &kStock}) {
    for (int extra : {0, O_CLOEXEC}) {
      std::string name = queue_name("cloexec");
      struct mq_attr a = small_attr();
      mqd_t q = impl->open(name.c_str(), O_RDWR | O_CREAT | extra, 0600, &a);
      ASSERT_GE(q, 0);
      EXPECT_EQ(fcntl(q, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC) << impl->name << " " << extra;
      impl->close(q);
      impl->unlink(name.c_str());
    }
  }
}

TEST(Mq, PermissionsAsAnotherUser) {
  std::string name = queue_name("perm");
  struct mq_attr a = small_attr();
  mqd_t q = mq_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, &a);
  ASSERT_GE(q, 0);
  int code = in_child([&] {
    if (!drop_privileges()) return 77;
    Outcome o1 = outcome([&] { return mq_open(name.c_str(), O_RDONLY); });
    Outcome s1 = outcome([&] { return stock_rt::mq_open(name.c_str(), O_RDONLY, 0, nullptr); });
    // The kernel says EPERM (sticky mqueue root); POSIX and glibc say EACCES.
    Outcome o2 = outcome([&] { return mq_unlink(name.c_str()); });
    Outcome s2 = outcome([&] { return stock_rt::mq_unlink(name.c_str()); });
    if (!(o1 == (Outcome{-1, EACCES}) && s1 == o1)) return 1;
    if (!(o2 == (Outcome{-1, EACCES}) && s2 == o2)) return 2;
    return 0;
  });
  if (code == 77) {
    GTEST_SKIP() << "cannot drop privileges here";
  }
  EXPECT_EQ(code, 0);
  EXPECT_EQ(mq_close(q), 0);
  EXPECT_EQ(mq_unlink(name.c_str()), 0);
}

// --- I/O --------------------------------------------------------------------------

TEST(Mq, SendAndReceiveInPriorityOrder) {
  for (const Impl* impl : {&kOurs, &kStock}) {
    SCOPED_TRACE(impl->name);
    mqd_t q = fresh_queue(*impl, O_RDWR, 8, 16);
    ASSERT_EQ(impl->send(q, "a", 1, 1), 0);
    ASSERT_EQ(impl->send(q, "bb", 2, 5), 0);
    ASSERT_EQ(impl->send(q, "", 0, 3), 0);
    ASSERT_EQ(impl->send(q, "dddd", 4, 5), 0);
    struct timespec later = deadline_in(30);
    ASSERT_EQ(impl->timedsend(q, "e", 1, MQ_PRIO_MAX - 1, &later), 0);
    struct mq_attr a;
    ASSERT_EQ(impl->getattr(q, &a), 0);
    EXPECT_EQ(a.mq_curmsgs, 5);
    const char* expect[] = {"e", "bb", "dddd", "", "a"};
    unsigned prios[] = {MQ_PRIO_MAX - 1, 5, 5, 3, 1};
    for (int i = 0; i < 5; ++i) {
      char buf[16];
      unsigned prio = 12345;
      ssize_t n = i % 2 ? impl->receive(q, buf, sizeof buf, &prio)
                        : impl->timedreceive(q, buf, sizeof buf, &prio, &later);
      ASSERT_EQ(n, (ssize_t)strlen(expect[i])) << i;
      EXPECT_EQ(std::string(buf, n), expect[i]);
      EXPECT_EQ(prio, prios[i]);
    }
    char buf[16];
    ASSERT_EQ(impl->send(q, "f", 1, 2), 0);
    EXPECT_EQ(impl->timedreceive(q, buf, sizeof buf, nullptr, &later), 1) << "null prio is fine";
    impl->close(q);
  }
}

enum IoCase { kSendTooBig, kReceiveBufferTooSmall, kPrioTooHigh, kEmptyNonblock,
              kFullNonblock, kEmptyPastDeadline, kFullPastDeadline, kBadDeadlineNs,
              kNegativeDeadlineNs, kBadDeadlineWhenNotBlocking, kSendOnReadOnly,
              kReceiveOnWriteOnly, kClosedDescriptor, kPipe, kNegativeDescriptor,
              kNullBufferWhenMessage, kNumIoCases };

Outcome io_case(const Impl& impl, int which) {
  int mode = which == kSendOnReadOnly ? O_RDONLY : which == kReceiveOnWriteOnly ? O_WRONLY : O_RDWR;
  if (which == kEmptyNonblock || which == kFullNonblock) mode |= O_NONBLOCK;
  mqd_t q = fresh_queue(impl, mode, 2, 32);
  char buf[64] = {};
  struct timespec past = {1, 0}, bad = deadline_in(10), negative = deadline_in(10);
  bad.tv_nsec = 1000000000;
  negative.tv_nsec = -1;
  int pipefd[2] = {-1, -1};
  Outcome o;
  auto fill = [&] {
    if (impl.timedsend(q, "x", 1, 0, &past) != 0 || impl.timedsend(q, "y", 1, 0, &past) != 0)
      ADD_FAILURE() << "fill";
  };
  switch (which) {
    case kSendTooBig: o = outcome([&] { return impl.send(q, buf, 33, 0); }); break;
    case kReceiveBufferTooSmall: o = outcome([&] { return impl.receive(q, buf, 31, nullptr); }); break;
    case kPrioTooHigh: o = outcome([&] { return impl.send(q, buf, 1, MQ_PRIO_MAX); }); break;
    case kEmptyNonblock: o = outcome([&] { return impl.receive(q, buf, 32, nullptr); }); break;
    case kFullNonblock: fill(); o = outcome([&] { return impl.send(q, buf, 1, 0); }); break;
    case kEmptyPastDeadline:
      o = outcome([&] { return impl.timedreceive(q, buf, 32, nullptr, &past); });
      break;
    case kFullPastDeadline: fill(); o = outcome([&] { return impl.timedsend(q, buf, 1, 0, &past); }); break;
    case kBadDeadlineNs: o = outcome([&] { return impl.timedreceive(q, buf, 32, nullptr, &bad); }); break;
    case kNegativeDeadlineNs:
      fill();
      o = outcome([&] { return impl.timedsend(q, buf, 1, 0, &negative); });
      break;
    case kBadDeadlineWhenNotBlocking:
      o = outcome([&] { return impl.timedsend(q, buf, 1, 0, &bad); });
      break;
    case kSendOnReadOnly: o = outcome([&] { return impl.send(q, buf, 1, 0); }); break;
    case kReceiveOnWriteOnly: o = outcome([&] { return impl.receive(q, buf, 32, nullptr); }); break;
    case kClosedDescriptor:
      impl.close(q);
      o = outcome([&] { return impl.send(q, buf, 1, 0); });
      q = -1;
      break;
    case kPipe:
      if (pipe(pipefd) != 0) return {-2, errno};
      o = outcome([&] { return impl.receive(pipefd[0], buf, 32, nullptr); });
      break;
    case kNegativeDescriptor: o = outcome([&] { return impl.send(-1, buf, 1, 0); }); break;
    case kNullBufferWhenMessage:
      fill();
      o = outcome([&] { return impl.receive(q, nullptr, 32, nullptr); });
      break;
  }
  if (q >= 0) impl.close(q);
  if (pipefd[0] >= 0) {
    close(pipefd[0]);
    close(pipefd[1]);
  }
  return o;
}

TEST(Mq, IoErrorsMatchStock) {
  for (int which = 0; which < kNumIoCases; ++which)
    EXPECT_EQ(io_case(kOurs, which), io_case(kStock, which)) << "case " << which;
  EXPECT_EQ(io_case(kOurs, kSendTooBig), (Outcome{-1, EMSGSIZE}));
  EXPECT_EQ(io_case(kOurs, kReceiveBufferTooSmall), (Outcome{-1, EMSGSIZE}));
  EXPECT_EQ(io_case(kOurs, kPrioTooHigh), (Outcome{-1, EINVAL}));
  EXPECT_EQ(io_case(kOurs, kEmptyNonblock), (Outcome{-1, EAGAIN}));
  EXPECT_EQ(io_case(kOurs, kFullNonblock), (Outcome{-1, EAGAIN}));
  EXPECT_EQ(io_case(kOurs, kEmptyPastDeadline), (Outcome{-1, ETIMEDOUT}));
  EXPECT_EQ(io_case(kOurs, kFullPastDeadline), (Outcome{-1, ETIMEDOUT}));
  EXPECT_EQ(io_case(kOurs, kBadDeadlineNs), (Outcome{-1, EINVAL}));
  EXPECT_EQ(io_case(kOurs, kSendOnReadOnly), (Outcome{-1, EBADF}));
  EXPECT_EQ(io_case(kOurs, kReceiveOnWriteOnly), (Outcome{-1, EBADF}));
  EXPECT_EQ(io_case(kOurs, kPipe), (Outcome{-1, EBADF}));
}

TEST(Mq, EintrFromASignalHandler) {
  struct sigaction sa = {}, old;
  sa.sa_handler = [](int) {};
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);  // no SA_RESTART
  mqd_t q = fresh_queue(kOurs);
  std::atomic<long> result{1};
  std::atomic<int> error{0};
  struct Arg {
    mqd_t q;
    std::atomic<long>* result;
    std::atomic<int>* error;
  } arg = {q, &result, &error};
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, [](void* p) -> void* {
              auto* a = static_cast<Arg*>(p);
              char buf[64];
              long r = mq_receive(a->q, buf, sizeof buf, nullptr);
              a->error->store(errno);
              a->result->store(r);
              return nullptr;
            }, &arg), 0);
  EXPECT_TRUE(eventually([&] {
    pthread_kill(t, SIGUSR1);
    return result.load() != 1;
  }));
  pthread_join(t, nullptr);
  EXPECT_EQ(result.load(), -1);
  EXPECT_EQ(error.load(), EINTR);
  mq_close(q);
  sigaction(SIGUSR1, &old, nullptr);
}

// --- attributes, close, unlink -------------------------------------------------

enum AttrCase { kGetAfterSends, kSetNonblock, kSetOtherFlag, kSetNullNew, kGetNull,
                kGetOnPipe, kSetOnClosed, kNumAttrCases };

Outcome attr_case(const Impl& impl, int which, struct mq_attr* out) {
  mqd_t q = fresh_queue(impl, O_RDWR, 4, 64);
  struct mq_attr a = {}, old = {};
  memset(out, 0, sizeof *out);
  int pipefd[2] = {-1, -1};
  Outcome o{0, 0};
  switch (which) {
    case kGetAfterSends:
      impl.send(q, "1", 1, 0);
      impl.send(q, "2", 1, 0);
      o = outcome([&] { return impl.getattr(q, out); });
      break;
    case kSetNonblock:
      a.mq_flags = O_NONBLOCK;
      a.mq_maxmsg = 99;  // ignored
      o = outcome([&] { return impl.setattr(q, &a, &old); });
      impl.getattr(q, out);
      if (old.mq_flags != 0) ADD_FAILURE() << "old flags";
      break;
    case kSetOtherFlag:
      a.mq_flags = O_NONBLOCK | O_APPEND;
      o = outcome([&] { return impl.setattr(q, &a, &old); });
      impl.getattr(q, out);
      break;
    case kSetNullNew: o = outcome([&] { return impl.setattr(q, nullptr, out); }); break;
    case kGetNull: o = outcome([&] { return impl.getattr(q, nullptr); }); break;
    case kGetOnPipe:
      if (pipe(pipefd) != 0) return {-2, errno};
      o = outcome([&] { return impl.getattr(pipefd[0], out); });
      close(pipefd[0]);
      close(pipefd[1]);
      break;
    case kSetOnClosed:
      impl.close(q);
      o = outcome([&] { return impl.setattr(q, &a, nullptr); });
      q = -1;
      break;
  }
  if (q >= 0) impl.close(q);
  return o;
}

TEST(Mq, AttributesMatchStock) {
  for (int which = 0; which < kNumAttrCases; ++which) {
    struct mq_attr mine, theirs;
    EXPECT_EQ(attr_case(kOurs, which, &mine), attr_case(kStock, which, &theirs)) << which;
    EXPECT_EQ(memcmp(&mine, &theirs, sizeof mine), 0) << which;
  }
  struct mq_attr a;
  EXPECT_EQ(attr_case(kOurs, kGetAfterSends, &a), (Outcome{0, 0}));
  EXPECT_EQ(a.mq_curmsgs, 2);
  EXPECT_EQ(a.mq_maxmsg, 4);
  EXPECT_EQ(a.mq_msgsize, 64);
  EXPECT_EQ(attr_case(kOurs, kSetNonblock, &a), (Outcome{0, 0}));
  EXPECT_EQ(a.mq_flags, O_NONBLOCK);
  EXPECT_EQ(a.mq_maxmsg, 4);
  EXPECT_EQ(attr_case(kOurs, kGetOnPipe, &a), (Outcome{-1, EBADF}));
}

TEST(Mq, CloseAndUnlink) {
  std::string name = queue_name("cu");
  struct mq_attr a = small_attr();
  mqd_t q = mq_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, &a);
  ASSERT_GE(q, 0);
  ASSERT_EQ(mq_send(q, "m", 1, 0), 0);
  EXPECT_EQ(mq_unlink(name.c_str()), 0);
  EXPECT_EQ(outcome([&] { return mq_unlink(name.c_str()); }), (Outcome{-1, ENOENT}));
  EXPECT_EQ(outcome([&] { return mq_open(name.c_str(), O_RDWR); }), (Outcome{-1, ENOENT}));
  // Still usable through the descriptor.
  char buf[64];
  EXPECT_EQ(mq_receive(q, buf, sizeof buf, nullptr), 1);
  EXPECT_EQ(mq_close(q), 0);
  EXPECT_EQ(outcome([&] { return mq_close(q); }), (Outcome{-1, EBADF}));
  EXPECT_EQ(outcome([] { return mq_close(-1); }), (Outcome{-1, EBADF}));
}

TEST(Mq, InteroperatesWithStock) {
  std::string name = queue_name("interop");
  struct mq_attr a = small_attr();
  mqd_t mine = mq_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, &a);
  ASSERT_GE(mine, 0);
  mqd_t theirs = stock_rt::mq_open(name.c_str(), O_RDWR, 0, nullptr);
  ASSERT_GE(theirs, 0);
  ASSERT_EQ(mq_send(mine, "hello", 5, 7), 0);
  char buf[64];
  unsigned prio;
  EXPECT_EQ(stock_rt::mq_receive(theirs, buf, sizeof buf, &prio), 5);
  EXPECT_EQ(prio, 7u);
  EXPECT_EQ(stock_rt::mq_close(theirs), 0);
  EXPECT_EQ(mq_close(mine), 0);
  EXPECT_EQ(stock_rt::mq_unlink(name.c_str()), 0);
}

// --- __mq_open_2 (fortify) ------------------------------------------------------

TEST(MqDeathTest, FortifyRefusesOCreatWithoutModeAndAttr) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::string name = queue_name("fortify");
  EXPECT_DEATH(__mq_open_2(name.c_str(), O_RDWR | O_CREAT),
               "\\*\\*\\* invalid mq_open call: O_CREAT without mode and attr \\*\\*\\*: .* "
               "terminated");
  EXPECT_EXIT(__mq_open_2(name.c_str(), O_RDWR | O_CREAT | O_EXCL),
              testing::KilledBySignal(SIGABRT), "invalid mq_open call");
  EXPECT_EQ(mq_unlink(name.c_str()), -1) << "nothing was created";
}

TEST(Mq, FortifyOpensWithoutOCreat) {
  std::string name = queue_name("fortify");
  struct mq_attr a = small_attr();
  mqd_t q = mq_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, &a);
  ASSERT_GE(q, 0);
  mqd_t q2 = __mq_open_2(name.c_str(), O_RDONLY);
  EXPECT_GE(q2, 0);
  mq_close(q2);
  mq_close(q);
  mq_unlink(name.c_str());
  EXPECT_EQ(outcome([&] { return __mq_open_2(name.c_str(), O_RDONLY); }), (Outcome{-1, ENOENT}));
  EXPECT_EQ(outcome([] { return __mq_open_2("noslash", O_RDONLY); }), (Outcome{-1, EINVAL}));
}

// --- cancellation -----------------------------------------------------------------

enum CancelOp { kReceive, kTimedReceive, kSend, kTimedSend };

void* blocked_op(void* p) {
  auto* args = static_cast<std::pair<mqd_t, int>*>(p);
  mqd_t q = args->first;
  char buf[64] = {};
  struct timespec later = deadline_in(600);
  switch (args->second) {
    case kReceive: mq_receive(q, buf, sizeof buf, nullptr); break;
    case kTimedReceive: mq_timedreceive(q, buf, sizeof buf, nullptr, &later); break;
    case kSend: mq_send(q, buf, 1, 0); break;
    case kTimedSend: mq_timedsend(q, buf, 1, 0, &later); break;
  }
  return (void*)1;
}

TEST(Mq, BlockedCallsAreCancellationPoints) {
  for (int op : {kReceive, kTimedReceive, kSend, kTimedSend}) {
    mqd_t q = fresh_queue(kOurs, O_RDWR, 1, 64);
    if (op == kSend || op == kTimedSend) {
      ASSERT_EQ(mq_send(q, "full", 4, 0), 0);
    }
    std::pair<mqd_t, int> args = {q, op};
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, nullptr, blocked_op, &args), 0);
    ASSERT_EQ(pthread_cancel(t), 0);
    void* result;
    ASSERT_EQ(pthread_join(t, &result), 0);
    EXPECT_EQ(result, PTHREAD_CANCELED) << "op " << op;
    mq_close(q);
  }
}

// qemu-user 7.2 does not implement mq_notify: the system call fails with
// ENOSYS whatever its arguments (for stock glibc as for us), where a kernel
// says EBADF for this descriptor.
bool emulator_lacks_mq_notify() {
  static const bool lacks =
      emulator() != nullptr && syscall(SYS_mq_notify, -1, nullptr) == -1 && errno == ENOSYS;
  return lacks;
}
#define SKIP_WITHOUT_MQ_NOTIFY()                                                     \
  if (emulator_lacks_mq_notify())                                                    \
  GTEST_SKIP() << emulator() << " cannot register a notification: mq_notify fails " \
               << "with ENOSYS there"

// A cancellation already pending acts on entry, before the call takes effect.
struct PendingArgs {
  mqd_t q;
  int op;
  bool no_mq_notify;
  std::atomic<bool> cancelled_sent{false};
};

void* with_pending_cancel(void* p) {
  auto* args = static_cast<PendingArgs*>(p);
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, nullptr);
  while (!args->cancelled_sent.load()) sched_yield();
  pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, nullptr);  // deferred: nothing happens yet
  char buf[64];
  struct timespec later = deadline_in(600);
  struct mq_attr a;
  struct sigevent none = {};
  none.sigev_notify = SIGEV_NONE;
  std::string name = queue_name("nc");
  switch (args->op) {
    case 0: mq_receive(args->q, buf, sizeof buf, nullptr); break;
    case 1: mq_timedreceive(args->q, buf, sizeof buf, nullptr, &later); break;
    case 2: mq_send(args->q, "new", 3, 0); break;
    case 3: mq_timedsend(args->q, "new", 3, 0, &later); break;
    case 4: {  // none of these is a cancellation point
      a = small_attr();
      mqd_t q2 = mq_open(name.c_str(), O_RDWR | O_CREAT, 0600, &a);
      if (q2 < 0) return (void*)2;
      if (mq_getattr(q2, &a) != 0 || mq_setattr(q2, &a, nullptr) != 0) return (void*)3;
      // (Where the emulator lacks mq_notify, ENOSYS: the calls returned all the same.)
      if ((mq_notify(q2, &none) != 0 || mq_notify(q2, nullptr) != 0) &&
          !(args->no_mq_notify && errno == ENOSYS))
        return (void*)4;
      if (mq_close(q2) != 0 || mq_unlink(name.c_str()) != 0) return (void*)5;
      return (void*)0;
    }
  }
  return (void*)1;
}

TEST(Mq, PendingCancellationActsBeforeTheCall) {
  for (int op = 0; op <= 4; ++op) {
    mqd_t q = fresh_queue(kOurs, O_RDWR, 4, 64);
    ASSERT_EQ(mq_send(q, "old", 3, 0), 0);  // receive would not block, send neither
    PendingArgs args;
    args.q = q;
    args.op = op;
    args.no_mq_notify = emulator_lacks_mq_notify();
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, nullptr, with_pending_cancel, &args), 0);
    ASSERT_EQ(pthread_cancel(t), 0);
    args.cancelled_sent = true;
    void* result;
    ASSERT_EQ(pthread_join(t, &result), 0);
    if (op == 4) {
      EXPECT_EQ(result, (void*)0) << "not cancellation points";
    } else {
      EXPECT_EQ(result, PTHREAD_CANCELED) << "op " << op;
    }
    struct mq_attr a;
    ASSERT_EQ(mq_getattr(q, &a), 0);
    EXPECT_EQ(a.mq_curmsgs, 1) << "op " << op << ": the queue was not touched";
    mq_close(q);
  }
}

// --- mq_notify --------------------------------------------------------------------

enum NotifyCase { kRegisterNone, kRegisterTwice, kRemoveUnregistered, kRemoveThenRegister,
                  kBadNotify, kBadSignal, kSignalZero, kBadDescriptor, kPipeDescriptor,
                  kNumNotifyCases };

Outcome notify_case(const Impl& impl, int which) {
  mqd_t q = fresh_queue(impl);
  struct sigevent ev = {};
  ev.sigev_notify = SIGEV_NONE;
  int pipefd[2] = {-1, -1};
  Outcome o;
  switch (which) {
    case kRegisterNone: o = outcome([&] { return impl.notify(q, &ev); }); break;
    case kRegisterTwice:
      impl.notify(q, &ev);
      o = outcome([&] { return impl.notify(q, &ev); });
      break;
    case kRemoveUnregistered: o = outcome([&] { return impl.notify(q, nullptr); }); break;
    case kRemoveThenRegister:
      impl.notify(q, &ev);
      impl.notify(q, nullptr);
      o = outcome([&] { return impl.notify(q, &ev); });
      break;
    case kBadNotify: ev.sigev_notify = 99; o = outcome([&] { return impl.notify(q, &ev); }); break;
    case kBadSignal:
      ev.sigev_notify = SIGEV_SIGNAL;
      ev.sigev_signo = 65;
      o = outcome([&] { return impl.notify(q, &ev); });
      break;
    case kSignalZero:
      ev.sigev_notify = SIGEV_SIGNAL;
      ev.sigev_signo = 0;
      o = outcome([&] { return impl.notify(q, &ev); });
      break;
    case kBadDescriptor: o = outcome([&] { return impl.notify(-1, &ev); }); break;
    case kPipeDescriptor:
      if (pipe(pipefd) != 0) return {-2, errno};
      o = outcome([&] { return impl.notify(pipefd[0], &ev); });
      close(pipefd[0]);
      close(pipefd[1]);
      break;
  }
  impl.close(q);
  return o;
}

TEST(Mq, NotifyRegistrationMatchesStock) {
  SKIP_WITHOUT_MQ_NOTIFY();
  for (int which = 0; which < kNumNotifyCases; ++which)
    EXPECT_EQ(notify_case(kOurs, which), notify_case(kStock, which)) << "case " << which;
  EXPECT_EQ(notify_case(kOurs, kRegisterTwice), (Outcome{-1, EBUSY}));
  EXPECT_EQ(notify_case(kOurs, kBadNotify), (Outcome{-1, EINVAL}));
  EXPECT_EQ(notify_case(kOurs, kBadDescriptor), (Outcome{-1, EBADF}));
}

TEST(Mq, NotifyIsPerProcess) {
  SKIP_WITHOUT_MQ_NOTIFY();
  mqd_t q = fresh_queue(kOurs);
  struct sigevent ev = {};
  ev.sigev_notify = SIGEV_NONE;
  ASSERT_EQ(mq_notify(q, &ev), 0);
  // Another process may neither register nor remove our registration.
  EXPECT_EQ(in_child([&] {
              if (mq_notify(q, &ev) != -1 || errno != EBUSY) return 1;
              if (mq_notify(q, nullptr) != 0) return 2;
              return 0;
            }),
            0);
  EXPECT_EQ(outcome([&] { return mq_notify(q, &ev); }), (Outcome{-1, EBUSY}));
  mq_close(q);
}

int signal_notification(const Impl* impl) {
  block(SIGUSR1);
  mqd_t q = fresh_queue(*impl);
  struct sigevent ev = {};
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = SIGUSR1;
  ev.sigev_value.sival_int = 31;
  if (impl->notify(q, &ev) != 0) return 10;
  if (impl->send(q, "x", 1, 0) != 0) return 11;
  siginfo_t info;
  if (wait_for(SIGUSR1, &info) != SIGUSR1) return 12;
  if (info.si_code != SI_MESGQ || info.si_value.sival_int != 31) return 13;
  if (info.si_pid != getpid()) return 14;
  // Fired once, and unregistered: registering again works.
  if (impl->notify(q, &ev) != 0) return 15;
  return impl->close(q) == 0 ? 0 : 16;
}

TEST(Mq, NotifySigevSignal) {
  SKIP_WITHOUT_MQ_NOTIFY();
  EXPECT_EQ(in_child([] { return signal_notification(&kOurs); }), 0);
  EXPECT_EQ(in_child([] { return signal_notification(&kStock); }), 0);
}

struct NotifyLog {
  std::atomic<int> calls{0};
  std::atomic<bool> detached{false};
  std::atomic<size_t> stacksize{0};
  std::atomic<bool> sigusr2_blocked{true};
  mqd_t q = -1;
  const Impl* impl = nullptr;
  std::atomic<int> reregistered{-1};
};

void notified(union sigval v) {
  auto* log = static_cast<NotifyLog*>(v.sival_ptr);
  const ThreadTraits t = this_thread_traits();
  log->detached = t.detached;
  log->stacksize = t.stacksize;
  log->sigusr2_blocked = t.sigusr2_blocked;
  // The usual pattern: register again from the notification.
  struct sigevent ev = {};
  ev.sigev_notify = SIGEV_NONE;
  log->reregistered = log->impl->notify(log->q, &ev);
  log->calls.fetch_add(1);
}

void check_notify_thread(const Impl& impl) {
  SCOPED_TRACE(impl.name);
  NotifyLog log;
  log.impl = &impl;
  log.q = fresh_queue(impl);
  sigset_t usr2, old_mask;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &usr2, &old_mask);
  const size_t kStack = 12 << 20;  // above the default: see timer_test.cpp
  auto* attr = new pthread_attr_t;
  pthread_attr_init(attr);
  pthread_attr_setstacksize(attr, kStack);
  struct sigevent ev = {};
  ev.sigev_notify = SIGEV_THREAD;
  ev.sigev_notify_function = notified;
  ev.sigev_notify_attributes = attr;
  ev.sigev_value.sival_ptr = &log;
  ASSERT_EQ(impl.notify(log.q, &ev), 0);
  EXPECT_EQ(outcome([&] { return impl.notify(log.q, &ev); }), (Outcome{-1, EBUSY}));
  if (&impl == &kOurs) {  // glibc keeps a shallow copy of the attributes
    pthread_attr_destroy(attr);
    memset(attr, 0xa5, sizeof *attr);
  }
  ASSERT_EQ(impl.send(log.q, "x", 1, 0), 0);
  EXPECT_TRUE(eventually([&] { return log.calls.load() == 1; }));
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  EXPECT_TRUE(log.detached.load());
  EXPECT_GE(log.stacksize.load(), kStack - (64 << 10));
  EXPECT_FALSE(log.sigusr2_blocked.load());
  EXPECT_EQ(log.reregistered.load(), 0);
  impl.close(log.q);
  if (&impl != &kOurs) pthread_attr_destroy(attr);
  delete attr;
}

TEST(Mq, NotifySigevThread) {
  SKIP_WITHOUT_MQ_NOTIFY();
  check_notify_thread(kOurs);
  check_notify_thread(kStock);
}

std::atomic<int> g_notified;
void count_notification(union sigval v) { g_notified.fetch_add(v.sival_int); }

TEST(Mq, NotifySigevThreadRemovedAndReplaced) {
  SKIP_WITHOUT_MQ_NOTIFY();
  // Registrations dropped unfired (mq_notify(NULL), mq_close) are released;
  // many of them, and many fired ones, leave nothing behind.
  g_notified = 0;
  struct sigevent ev = {};
  ev.sigev_notify = SIGEV_THREAD;
  ev.sigev_notify_function = count_notification;
  ev.sigev_value.sival_int = 1;
  struct sigevent none = {};
  none.sigev_notify = SIGEV_NONE;
  for (int i = 0; i < 100; ++i) {
    mqd_t q = fresh_queue(kOurs);
    ASSERT_EQ(mq_notify(q, &ev), 0);
    if (i % 2) {
      ASSERT_EQ(mq_notify(q, nullptr), 0);
      EXPECT_EQ(mq_notify(q, &none), 0) << "the thread registration is gone";
    }
    mq_close(q);
  }
  mqd_t q = fresh_queue(kOurs);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(mq_notify(q, &ev), 0);
    ASSERT_EQ(mq_send(q, "x", 1, 0), 0);
    char buf[64];
    ASSERT_TRUE(eventually([&] { return g_notified.load() == i + 1; })) << i;
    ASSERT_EQ(mq_receive(q, buf, sizeof buf, nullptr), 1);
  }
  mq_close(q);
  EXPECT_EQ(g_notified.load(), 20) << "none of the 50 removed registrations fired";
}

TEST(Mq, NotifySigevThreadNullFunctionIsEinval) {
  mqd_t q = fresh_queue(kOurs);
  struct sigevent ev = {};
  ev.sigev_notify = SIGEV_THREAD;
  EXPECT_EQ(outcome([&] { return mq_notify(q, &ev); }), (Outcome{-1, EINVAL}));
  mq_close(q);
}

TEST(Mq, NotifySigevThreadInForkedChild) {
  SKIP_WITHOUT_MQ_NOTIFY();
  // The parent's helper and socket exist; the child needs its own.
  g_notified = 0;
  mqd_t q = fresh_queue(kOurs);
  struct sigevent ev = {};
  ev.sigev_notify = SIGEV_THREAD;
  ev.sigev_notify_function = count_notification;
  ev.sigev_value.sival_int = 1;
  ASSERT_EQ(mq_notify(q, &ev), 0);
  int code = in_child([] {
    g_notified = 0;
    mqd_t q = fresh_queue(kOurs);
    struct sigevent ev = {};
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_notify_function = count_notification;
    ev.sigev_value.sival_int = 5;
    if (mq_notify(q, &ev) != 0) return 10;
    if (mq_send(q, "x", 1, 0) != 0) return 11;
    if (!eventually([] { return g_notified.load() == 5; })) return 12;
    return 0;
  });
  EXPECT_EQ(code, 0);
  // The parent's registration still works.
  ASSERT_EQ(mq_send(q, "x", 1, 0), 0);
  EXPECT_TRUE(eventually([] { return g_notified.load() == 1; }));
  mq_close(q);
}

// --- where the kernel says no ---------------------------------------------------

TEST(Mq, OpenBeyondLimitsIsEmfileAsStock) {
  // Out of descriptors, and over the per-user queue memory (RLIMIT_MSGQUEUE):
  // the kernel says EMFILE for both.
  int code = in_child([] {
    struct rlimit few = {0, 0};
    struct mq_attr a = small_attr(8, 1024);
    std::string name = queue_name("emfile");
    if (setrlimit(RLIMIT_MSGQUEUE, &few) != 0) return 77;
    Outcome mine = outcome([&] { return mq_open(name.c_str(), O_RDWR | O_CREAT, 0600, &a); });
    Outcome theirs =
        outcome([&] { return stock_rt::mq_open(name.c_str(), O_RDWR | O_CREAT, 0600, &a); });
    if (!(mine == (Outcome{-1, EMFILE}) && theirs == mine)) return 1;
    few = {3, 3};  // stdin, stdout, stderr
    if (setrlimit(RLIMIT_NOFILE, &few) != 0) return 77;
    mine = outcome([&] { return mq_open(name.c_str(), O_RDWR | O_CREAT, 0600, nullptr); });
    theirs = outcome([&] { return stock_rt::mq_open(name.c_str(), O_RDWR | O_CREAT, 0600, nullptr); });
    mq_unlink(name.c_str());
    return mine == (Outcome{-1, EMFILE}) && theirs == mine ? 0 : 2;
  });
  if (code == 77) {
    GTEST_SKIP() << "cannot lower the limits";
  }
  EXPECT_EQ(code, 0);
}

TEST(Mq, KernelWithoutMessageQueuesGivesItsErrno) {
  // A kernel built without POSIX message queues answers ENOSYS.
  int code = in_child([] {
    mqd_t q = fresh_queue(kOurs);
    if (!deny_syscalls({SYS_mq_open, SYS_mq_unlink, SYS_mq_timedsend, SYS_mq_timedreceive,
               SYS_mq_notify, SYS_mq_getsetattr},
              ENOSYS))
      return 77;
    std::string name = queue_name("nosys");
    struct mq_attr a = small_attr();
    if (!(outcome([&] { return mq_open(name.c_str(), O_RDWR | O_CREAT, 0600, &a); }) ==
          (Outcome{-1, ENOSYS})))
      return 1;
    if (!(outcome([&] { return mq_unlink(name.c_str()); }) == (Outcome{-1, ENOSYS}))) return 2;
    if (!(outcome([&] { return mq_send(q, "x", 1, 0); }) == (Outcome{-1, ENOSYS}))) return 3;
    char buf[64];
    if (!(outcome([&] { return mq_receive(q, buf, 64, nullptr); }) == (Outcome{-1, ENOSYS})))
      return 4;
    if (!(outcome([&] { return mq_getattr(q, &a); }) == (Outcome{-1, ENOSYS}))) return 5;
    if (!(outcome([&] { return mq_notify(q, nullptr); }) == (Outcome{-1, ENOSYS}))) return 6;
    return 0;
  });
  if (code == 77) {
    GTEST_SKIP() << no_seccomp_reason();
  }
  EXPECT_EQ(code, 0);
}

TEST(Mq, NotifySigevThreadWithoutNetlinkIsEnosys) {
  SKIP_WITHOUT_MQ_NOTIFY();
  int code = in_child([] {
    mqd_t q = fresh_queue(kOurs);
    if (!deny_syscalls({SYS_socket}, EAFNOSUPPORT)) return 77;
    struct sigevent ev = {};
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_notify_function = count_notification;
    if (!(outcome([&] { return mq_notify(q, &ev); }) == (Outcome{-1, ENOSYS}))) return 1;
    // The other kinds do not need it.
    ev.sigev_notify = SIGEV_NONE;
    return mq_notify(q, &ev) == 0 ? 0 : 2;
  });
  if (code == 77) {
    GTEST_SKIP() << no_seccomp_reason();
  }
  EXPECT_EQ(code, 0);
}

}  // namespace
}  // namespace lambshm::test

int main(int argc, char** argv) {
  // Private queues when we may (root): none can leak out of this run.  Our
  // own queue budget (RLIMIT_MSGQUEUE counts per user) raised where allowed.
  unshare(CLONE_NEWIPC);
  struct rlimit lim = {64 << 20, 64 << 20};
  setrlimit(RLIMIT_MSGQUEUE, &lim);
  ::testing::InitGoogleTest(&argc, argv);
  return lambshm::test::exit_status(RUN_ALL_TESTS());
}
