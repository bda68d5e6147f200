// The thread pool behind aio: what it costs before the first request (no
// thread; no constructor either: abi/librt-init), how many workers it starts (aio_threads), when
// they leave (aio_idle_time), that requests and threads do not leak, what
// workers block, whose priority they take, and fork().
//
// The test process itself never calls aio: each test runs in a forked child,
// which therefore starts with a pool that has never been used (aio_init can
// still set aio_threads there).  Bounds are generous; no result depends on
// timing except where a comment says so.
#include "aio_bind.h"  // first: binds the calls below to our librt

#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "aio_util.h"
#include "test_util.h"

namespace lambshm::aio_test {
namespace {

bool done(const struct aiocb& cb) { return wait_done(&cb, &aio_suspend, &aio_error); }

void init(int threads, int idle_seconds) {
  struct aioinit in;
  memset(&in, 0, sizeof in);
  in.aio_threads = threads;
  in.aio_num = 64;
  in.aio_idle_time = idle_seconds;
  aio_init(&in);
}

// The signal mask of thread `tid`, from /proc ("SigBlk:" in hexadecimal).
unsigned long long blocked_signals(pid_t tid) {
  std::string path = "/proc/self/task/" + std::to_string(tid) + "/status";
  FILE* f = fopen(path.c_str(), "r");
  if (f == nullptr) return 0;
  char line[256];
  unsigned long long mask = 0;
  while (fgets(line, sizeof line, f) != nullptr)
    if (sscanf(line, "SigBlk: %llx", &mask) == 1) break;
  fclose(f);
  return mask;
}

// Threads of a process that started none: a shell's.  1 on a machine; a
// user-mode emulator may add its own (qemu-user runs an RCU thread in
// every process).
int threads_of_a_fresh_process() {
  test::ProcResult r = test::run({"/bin/sh", "-c", "set -- /proc/$$/task/*; echo $#"});
  return r.exit_code() == 0 ? atoi(r.out.c_str()) : -1;
}

// DT_FLAGS_1 of the loaded object that contains `address` (0 if it has
// none), from its dynamic section as the dynamic linker sees it; nothing if
// no object contains it.
std::optional<unsigned long> dynamic_flags_1(const void* address) {
  struct Search {
    const void* address;
    std::optional<unsigned long> flags_1;
  } search = {address, std::nullopt};
  dl_iterate_phdr([](struct dl_phdr_info* obj, size_t, void* p) {
    auto* s = static_cast<Search*>(p);
    const ElfW(Phdr)* dynamic = nullptr;
    bool contains = false;
    for (int i = 0; i < obj->dlpi_phnum; ++i) {
      const ElfW(Phdr)& ph = obj->dlpi_phdr[i];
      uintptr_t start = obj->dlpi_addr + ph.p_vaddr, at = (uintptr_t)s->address;
      if (ph.p_type == PT_LOAD && at >= start && at < start + ph.p_memsz) contains = true;
      if (ph.p_type == PT_DYNAMIC) dynamic = &ph;
    }
    if (!contains || dynamic == nullptr) return 0;
    s->flags_1 = 0;
    for (auto* d = reinterpret_cast<const ElfW(Dyn)*>(obj->dlpi_addr + dynamic->p_vaddr);
         d->d_tag != DT_NULL; ++d)
      if (d->d_tag == DT_FLAGS_1) s->flags_1 = d->d_un.d_val;
    return 1;
  }, &search);
  return search.flags_1;
}

TEST(Pool, NothingRunsOrIsConstructedBeforeTheFirstRequest) {
  // This process has loaded our librt and never called aio: no thread more
  // than a process that started none.
  int fresh = threads_of_a_fresh_process();
  if (test::emulator() == nullptr) {
    EXPECT_EQ(fresh, 1);
  }
  EXPECT_EQ(thread_count(), fresh);
  Dl_info info;
  ASSERT_NE(dladdr(reinterpret_cast<void*>(&aio_read), &info), 0);
  ASSERT_NE(std::string(info.dli_fname).find("librt.so.1"), std::string::npos) << info.dli_fname;
  // (That .init_array holds only the toolchain's entries, no constructor of
  // ours, is checked by name in the abi suite: librt-init.)
  ASSERT_TRUE(dynamic_flags_1(reinterpret_cast<void*>(&aio_read)).has_value());
  EXPECT_TRUE(*dynamic_flags_1(reinterpret_cast<void*>(&aio_read)) & DF_1_NODELETE)
      << "librt must stay loaded while workers run";
}

TEST(Pool, WorkersAreCappedByAioThreadsAndLeaveAfterTheIdleTime) {
  EXPECT_EQ(in_child([] {
              init(/*threads=*/2, /*idle_seconds=*/1);
              int base = thread_count();
              Pipe p[4];
              char c[5] = {};
              struct aiocb r[4], second;
              for (int i = 0; i < 4; ++i) {
                r[i] = make_cb(p[i].r, &c[i], 1);
                CHILD_CHECK(aio_read(&r[i]) == 0);
              }
              second = make_cb(p[2].r, &c[4], 1);
              CHILD_CHECK(aio_read(&second) == 0);
              CHILD_CHECK(eventually([&] { return blocked_in_read(p[0].r) && blocked_in_read(p[1].r); }));
              CHILD_CHECK(thread_count() == base + 2);
              CHILD_CHECK(aio_error(&r[2]) == EINPROGRESS && aio_error(&r[3]) == EINPROGRESS);
              // r[2] waits for a worker: it can still be canceled, and the
              // request queued behind it on the same descriptor must run later.
              CHILD_CHECK(aio_cancel(p[2].r, &r[2]) == AIO_CANCELED);
              CHILD_CHECK(aio_error(&r[2]) == ECANCELED);
              for (int i = 0; i < 4; ++i) CHILD_CHECK(write(p[i].w, "abcd" + i, 1) == 1);
              CHILD_CHECK(done(r[0]) && done(r[1]) && done(r[3]) && done(second));
              CHILD_CHECK(c[0] == 'a' && c[1] == 'b' && c[3] == 'd' && c[4] == 'c');
              CHILD_CHECK(thread_count() <= base + 2);
              // Idle for aio_idle_time (1 s): every worker leaves.
              CHILD_CHECK(eventually([&] { return thread_count() == base; }, 30));
              // And the pool starts again.
              TempFile f;
              struct aiocb w = make_cb(f.fd, c, 1);
              CHILD_CHECK(aio_write(&w) == 0 && done(w) && aio_return(&w) == 1);
              CHILD_CHECK(eventually([&] { return thread_count() == base; }, 30));
              return 0;
            }),
            "");
}

TEST(Pool, AioThreadsIsFixedByTheFirstRequest) {
  EXPECT_EQ(in_child([] {
              int base = thread_count();
              TempFile f;
              char c[3];
              struct aiocb w = make_cb(f.fd, c, 1);
              CHILD_CHECK(aio_write(&w) == 0 && done(w));
              init(/*threads=*/1, /*idle_seconds=*/1);  // too late for aio_threads
              Pipe p[3];
              struct aiocb r[3];
              for (int i = 0; i < 3; ++i) {
                r[i] = make_cb(p[i].r, &c[i], 1);
                CHILD_CHECK(aio_read(&r[i]) == 0);
              }
              // Three reads blocked at once need three workers.
              CHILD_CHECK(eventually([&] {
                return blocked_in_read(p[0].r) && blocked_in_read(p[1].r) && blocked_in_read(p[2].r);
              }));
              CHILD_CHECK(thread_count() == base + 3);
              for (int i = 0; i < 3; ++i) CHILD_CHECK(write(p[i].w, "x", 1) == 1);
              for (int i = 0; i < 3; ++i) CHILD_CHECK(done(r[i]));
              return 0;
            }),
            "");
}

TEST(Pool, IdleWorkersAreReusedAndKeptForTheIdleTime) {
  EXPECT_EQ(in_child([] {
              init(/*threads=*/4, /*idle_seconds=*/60);
              int base = thread_count();
              TempFile f;
              char c = 'i';
              for (int i = 0; i < 50; ++i) {
                struct aiocb w = make_cb(f.fd, &c, 1, i);
                CHILD_CHECK(aio_write(&w) == 0 && done(w));
                // One at a time: the idle worker takes each one.
                CHILD_CHECK(thread_count() == base + 1);
              }
              // Timing, with a wide margin: 2 s into a 60 s idle time, it is still there.
              sleep(2);
              CHILD_CHECK(thread_count() == base + 1);
              return 0;
            }),
            "");
}

TEST(Pool, NegativeIdleTimeLetsWorkersLeaveAtOnce) {
  EXPECT_EQ(in_child([] {
              init(/*threads=*/20, /*idle_seconds=*/-1);
              int base = thread_count();
              TempFile f;
              char c = 'n';
              struct aiocb w = make_cb(f.fd, &c, 1);
              CHILD_CHECK(aio_write(&w) == 0 && done(w));
              CHILD_CHECK(eventually([&] { return thread_count() == base; }, 30));
              return 0;
            }),
            "");
}

TEST(Pool, RequestsAndListsDoNotLeak) {
  EXPECT_EQ(in_child([] {
              init(/*threads=*/4, /*idle_seconds=*/1);
              int base = thread_count();
              int sig = test_signal(0);
              block(sig);
              TempFile f;
              Pipe p;
              char data[64] = "leak?";
              auto round = [&](int n) -> bool {
                std::vector<struct aiocb> cbs(n);
                for (int i = 0; i < n; ++i) {
                  cbs[i] = make_cb(f.fd, data, sizeof data, (off_t)(i % 16) * 64);
                  if (aio_write(&cbs[i]) != 0) return false;
                }
                for (auto& cb : cbs)
                  if (!done(cb)) return false;
                // lio_listio groups, allocated for LIO_NOWAIT with a notification.
                struct sigevent sev;
                memset(&sev, 0, sizeof sev);
                sev.sigev_notify = SIGEV_SIGNAL;
                sev.sigev_signo = sig;
                for (int i = 0; i < n / 10; ++i) {
                  struct aiocb* list[4] = {&cbs[0], &cbs[1], &cbs[2], &cbs[3]};
                  for (struct aiocb* cb : list) cb->aio_lio_opcode = LIO_WRITE;
                  if (lio_listio(LIO_NOWAIT, list, 4, &sev) != 0) return false;
                  siginfo_t info;
                  if (!take_signal(sig, &info, 60)) return false;
                }
                // Canceled requests.
                char c;
                struct aiocb head = make_cb(p.r, &c, 1), tail = make_cb(p.r, &c, 1);
                if (aio_read(&head) != 0 || aio_read(&tail) != 0) return false;
                if (aio_cancel(p.r, &tail) != AIO_CANCELED) return false;
                if (write(p.w, "x", 1) != 1 || !done(head)) return false;
                // Exited workers hand their malloc caches back.
                return eventually([&] { return thread_count() == base; }, 30);
              };
              CHILD_CHECK(round(200));  // warm-up: arenas, caches
              size_t before = mallinfo2().uordblks;
              CHILD_CHECK(round(2000));
              size_t after = mallinfo2().uordblks;
              fprintf(stderr, "heap in use: %zu bytes before, %zu after 2000 requests\n", before,
                      after);
              CHILD_CHECK(after <= before + 16384);  // a leak would be >= 2000 requests' worth
              return 0;
            }),
            "");
}

TEST(Pool, SubmissionIsEagainWhenNoWorkerCanBeStartedAsWithStockGlibc) {
  // A child that may not create threads (an unprivileged user at its
  // RLIMIT_NPROC): the first request has no worker and fails at once.
  if (getuid() != 0) GTEST_SKIP() << "needs root to become another user";
  EXPECT_EQ(in_child([] {
              int p[2];
              CHILD_CHECK(pipe(p) == 0);
              CHILD_CHECK(setgid(65534) == 0 && setuid(65534) == 0);
              struct rlimit none = {1, 1};
              CHILD_CHECK(setrlimit(RLIMIT_NPROC, &none) == 0);
              void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
              auto stock_write = reinterpret_cast<int (*)(struct aiocb*)>(
                  dlvsym(libc, "aio_write", "GLIBC_2.34"));
              auto stock_error = reinterpret_cast<int (*)(const struct aiocb*)>(
                  dlvsym(libc, "aio_error", "GLIBC_2.34"));
              CHILD_CHECK(stock_write != nullptr && stock_error != nullptr);
              char c = 'e';
              struct aiocb ours = make_cb(p[1], &c, 1), theirs = make_cb(p[1], &c, 1);
              errno = 0;
              int r = aio_write(&ours);
              int e = errno;
              errno = 0;
              int stock_r = stock_write(&theirs);
              int stock_e = errno;
              fprintf(stderr, "lambshm: %d errno %d, aio_error %d, aio_return %zd\n", r, e,
                      aio_error(&ours), aio_return(&ours));
              fprintf(stderr, "glibc:   %d errno %d, aio_error %d, aio_return %zd\n", stock_r,
                      stock_e, stock_error(&theirs), theirs.__return_value);
              CHILD_CHECK(r == -1 && e == EAGAIN);
              CHILD_CHECK(aio_error(&ours) == EAGAIN && aio_return(&ours) == 0);
              CHILD_CHECK(stock_r == r && stock_e == e);
              CHILD_CHECK(stock_error(&theirs) == aio_error(&ours));
              CHILD_CHECK(theirs.__return_value == ours.__return_value);
              // A list whose entries all fail to start: its errno is theirs.
              struct aiocb* list[1] = {&ours};
              ours.aio_lio_opcode = LIO_WRITE;
              errno = 0;
              CHILD_CHECK(lio_listio(LIO_WAIT, list, 1, nullptr) == -1 && errno == EAGAIN);
              return 0;
            }),
            "");
}

TEST(Pool, WorkersBlockEverySignalButGlibcsOwnAndCallersKeepTheirMask) {
  EXPECT_EQ(in_child([] {
              sigset_t before, after;
              sigemptyset(&before);
              sigemptyset(&after);
              pthread_sigmask(SIG_SETMASK, nullptr, &before);
              Pipe p;
              char c;
              struct aiocb r = make_cb(p.r, &c, 1);
              CHILD_CHECK(aio_read(&r) == 0);
              pid_t worker = 0;
              CHILD_CHECK(eventually([&] { return (worker = reader_of(p.r)) != 0; }));
              unsigned long long all = ~0ull;
              auto bit = [](int sig) { return 1ull << (sig - 1); };
              // SIGKILL and SIGSTOP cannot be blocked; 32 and 33 are glibc's.
              unsigned long long want = all & ~bit(SIGKILL) & ~bit(SIGSTOP) & ~bit(32) & ~bit(33);
              // Under an emulator /proc shows the host thread's mask (qemu
              // keeps the guest's to itself): not checked there.
              CHILD_CHECK(test::emulator() != nullptr || blocked_signals(worker) == want);
              pthread_sigmask(SIG_SETMASK, nullptr, &after);
              for (int sig = 1; sig <= 64; ++sig)
                CHILD_CHECK(sigismember(&before, sig) == sigismember(&after, sig));
              CHILD_CHECK(write(p.w, "s", 1) == 1 && done(r));
              return 0;
            }),
            "");
  if (test::emulator() != nullptr) {
    GTEST_SKIP() << test::emulator() << " cannot show a guest thread's signal mask: /proc's "
                 << "SigBlk is the host thread's (the caller's mask was checked)";
  }
}

TEST(Pool, WorkersTakeTheSubmittersPolicyLessTheRequestPriority) {
  // Needs a real-time policy for this thread; skipped where it is refused.
  std::string result = in_child([] {
    struct sched_param param;
    param.sched_priority = 10;
    int refused = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
    if (refused == EPERM) return 77;
    CHILD_CHECK(refused == 0);
    Pipe p;
    char c;
    struct aiocb r = make_cb(p.r, &c, 1);
    r.aio_reqprio = 3;
    CHILD_CHECK(aio_read(&r) == 0);
    CHILD_CHECK(r.__policy == SCHED_FIFO && r.__abs_prio == 7);
    pid_t worker = 0;
    CHILD_CHECK(eventually([&] { return (worker = reader_of(p.r)) != 0; }));
    struct sched_param got;
    CHILD_CHECK(sched_getscheduler(worker) == SCHED_FIFO);
    CHILD_CHECK(sched_getparam(worker, &got) == 0 && got.sched_priority == 7);
    CHILD_CHECK(write(p.w, "p", 1) == 1 && done(r));
    return 0;
  });
  // (Refused to root of a user namespace, as under tests/harness/target-exec: it
  // lacks CAP_SYS_NICE in the machine's initial one.)
  if (result == "child exited with status 77")
    GTEST_SKIP() << "this process may not use SCHED_FIFO here (EPERM)";
  EXPECT_EQ(result, "");
}

TEST(Pool, AForkedChildGetsAnEmptyPoolAndTheParentsRequestsGoOn) {
  const int fresh = threads_of_a_fresh_process();
  EXPECT_EQ(in_child([fresh] {
              Pipe p;
              char c[2] = {};
              struct aiocb running = make_cb(p.r, &c[0], 1), queued = make_cb(p.r, &c[1], 1);
              CHILD_CHECK(aio_read(&running) == 0 && aio_read(&queued) == 0);
              CHILD_CHECK(eventually([&] { return blocked_in_read(p.r); }));
              std::string grandchild = in_child([&] {
                // POSIX: pending requests are not inherited.  Ours say so.
                CHILD_CHECK(aio_error(&running) == ECANCELED && aio_return(&running) == -1);
                CHILD_CHECK(aio_error(&queued) == ECANCELED);
                CHILD_CHECK(aio_cancel(p.r, nullptr) == AIO_ALLDONE);
                int base = thread_count();
                CHILD_CHECK(base == fresh);  // no worker came along
                TempFile f;
                char data[] = "child";
                struct aiocb w = make_cb(f.fd, data, 5);
                CHILD_CHECK(aio_write(&w) == 0 && done(w) && aio_return(&w) == 5);
                return 0;
              });
              if (!grandchild.empty()) {
                fprintf(stderr, "grandchild: %s\n", grandchild.c_str());
                return 1;
              }
              CHILD_CHECK(aio_error(&running) == EINPROGRESS);
              CHILD_CHECK(write(p.w, "PQ", 2) == 2);
              CHILD_CHECK(done(running) && done(queued));
              CHILD_CHECK(c[0] == 'P' && c[1] == 'Q');
              return 0;
            }),
            "");
}

TEST(Pool, ForkWhileOtherThreadsSubmitNeverDeadlocks) {
  EXPECT_EQ(in_child(
                [] {
                  std::atomic<bool> stop{false};
                  TempFile f;
                  std::thread submitter([&] {
                    char c = 's';
                    while (!stop) {
                      struct aiocb w = make_cb(f.fd, &c, 1);
                      if (aio_write(&w) == 0) done(w);
                    }
                  });
                  for (int i = 0; i < 25; ++i) {
                    std::string r = in_child(
                        [&] {
                          char c = 'g';
                          struct aiocb w = make_cb(f.fd, &c, 1, 10);
                          CHILD_CHECK(aio_write(&w) == 0 && done(w));
                          return 0;
                        },
                        /*seconds=*/30);
                    if (!r.empty()) {
                      fprintf(stderr, "fork %d: %s\n", i, r.c_str());
                      stop = true;
                      submitter.join();
                      return 1;
                    }
                  }
                  stop = true;
                  submitter.join();
                  return 0;
                },
                /*seconds=*/240),
            "");
}

}  // namespace
}  // namespace lambshm::aio_test
