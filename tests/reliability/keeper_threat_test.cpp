// The keeper and its records against the threat model of docs/design.md: a
// second user sharing the backing directory (a 1777 directory, as /tmp/shm
// is on a multi-user host), and the faults one user meets alone (a stalled
// creator, another network namespace, junk on the keeper's socket, a
// descriptor limit, a full disk).  The attacker is a second uid: a forked
// child that switched to it, or the probe run under setpriv.  Real
// processes throughout: the built keeper, the probe, stock glibc.
#include "old_abi.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "api_env.h"
#include "keeper_protocol.h"
#include "test_util.h"
#include "tracer.h"
#include "victim_run.h"

namespace lambshm::test {
namespace {

constexpr uid_t kAttacker = 65534;

std::string probe() { return helper("LAMBSHM_PROBE"); }

// Skips unless objects in `dir` are memfds: a disk, not tmpfs.
#define REQUIRE_DISK(dir)                                                         \
  do {                                                                            \
    struct statfs fs;                                                             \
    if (statfs((dir).c_str(), &fs) != 0 || fs.f_type == 0x01021994)               \
      GTEST_SKIP() << (dir) << " is tmpfs (or missing): objects are plain files"; \
  } while (0)

// A fresh 1777 backing directory on /tmp's disk, as /tmp/shm on a host.
struct SharedDir {
  TempDir root{"threat"};
  std::string dir = root / "shm";
  SharedDir() {
    mkdir(dir.c_str(), 01777);
    chmod(dir.c_str(), 01777);
  }
  std::string operator/(const std::string& name) const { return dir + "/" + name; }
  std::vector<std::string> env() const { return {"LAMBSHM_DIR=" + dir}; }
};

// Runs `body` in a child that became uid/gid kAttacker; its exit status.
int as_attacker(const std::function<int()>& body) {
  pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(kAttacker, kAttacker, kAttacker) != 0 ||
        setresuid(kAttacker, kAttacker, kAttacker) != 0)
      _exit(99);
    _exit(body());
  }
  int status;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

// `argv` run as kAttacker (setpriv).
ProcResult run_as_attacker(std::vector<std::string> argv, const std::vector<std::string>& env) {
  std::string uid = std::to_string(kAttacker);
  argv.insert(argv.begin(), {"/usr/bin/setpriv", "--reuid=" + uid, "--regid=" + uid,
                             "--clear-groups", "--"});
  return run(argv, env);
}

#define REQUIRE_SECOND_USER()                                                   \
  do {                                                                          \
    if (!is_root()) GTEST_SKIP() << "needs root to play a second user";         \
    if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "no setpriv";    \
  } while (0)

uint64_t namespace_id(const char* which) {
  struct stat st;
  return stat(("/proc/self/ns/" + std::string(which)).c_str(), &st) == 0 ? st.st_ino : 0;
}

// Writes at `path` a record as our own code would, naming `holder`'s
// descriptor `fd` (whose inode is `target`) and keeper `keeper`: its mode
// kRecordMode and its own inode, so that only its owner tells it apart.
bool plant_record(const std::string& path, pid_t holder, int fd, const struct stat& target,
                  pid_t keeper) {
  int r = open(path.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  struct stat self;
  if (r < 0 || fstat(r, &self) != 0) return false;
  keeper::Record rec{};
  memcpy(rec.magic, keeper::kRecordMagic, sizeof rec.magic);
  rec.holder_pid = holder;
  rec.holder_fd = fd;
  rec.dev = target.st_dev;
  rec.ino = target.st_ino;
  rec.keeper_pid = keeper;
  rec.rec_dev = self.st_dev;
  rec.rec_ino = self.st_ino;
  rec.net_ns = namespace_id("net");
  rec.pid_ns = namespace_id("pid");
  bool ok = pwrite(r, &rec, sizeof rec, 0) == (ssize_t)sizeof rec &&
            fchmod(r, keeper::kRecordMode) == 0;
  close(r);
  return ok;
}

// --- 1. Records are trusted only from their owner ------------------------------

// Another user plants a well-formed record naming its own memfd: the victim's
// shm_open does not follow it (EACCES, as a file it may not use), so nothing
// the victim writes lands in the attacker's memory.
TEST(Records, AnotherUsersRecordIsNeverFollowed) {
  REQUIRE_SECOND_USER();
  SharedDir d;
  REQUIRE_DISK(d.dir);
  int ready[2], done[2], report[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(done), 0);
  ASSERT_EQ(pipe(report), 0);
  pid_t attacker = fork();
  if (attacker == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(kAttacker, kAttacker, kAttacker) != 0 ||
        setresuid(kAttacker, kAttacker, kAttacker) != 0)
      _exit(99);
    int m = (int)syscall(SYS_memfd_create, "attacker", 0);
    struct stat st;
    if (m < 0 || pwrite(m, "attacker", 8, 0) != 8 || fstat(m, &st) != 0) _exit(98);
    bool ok = plant_record(d / "secrets", getpid(), m, st, 0);
    ssize_t w = write(ready[1], ok ? "y" : "n", 1);
    char c;
    w = read(done[0], &c, 1);
    char seen[32] = {};
    w = pread(m, seen, sizeof seen - 1, 0);
    w = write(report[1], seen, strlen(seen));
    (void)w;
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  ProcResult victim = run({probe(), "shm_open secrets O_RDWR 0", "pwrite ROOT-ONLY-SECRET",
                           "shm_open secrets O_CREAT|O_RDWR 0600", "pwrite ROOT-ONLY-SECRET",
                           "shm_open secrets O_CREAT|O_EXCL|O_RDWR 0600"},
                          d.env());
  ASSERT_EQ(write(done[1], "x", 1), 1);
  close(report[1]);
  char seen[64] = {};
  ASSERT_GE(read(report[0], seen, sizeof seen - 1), 0);
  waitpid(attacker, nullptr, 0);
  EXPECT_STREQ(seen, "attacker") << "the victim wrote into the attacker's memfd";
  EXPECT_EQ(victim.out,
            "shm_open secrets O_RDWR 0 -> -1 EACCES\n"
            "pwrite ROOT-ONLY-SECRET -> -1 EBADF\n"
            "shm_open secrets O_CREAT|O_RDWR 0600 -> -1 EACCES\n"
            "pwrite ROOT-ONLY-SECRET -> -1 EBADF\n"
            "shm_open secrets O_CREAT|O_EXCL|O_RDWR 0600 -> -1 EEXIST\n")
      << victim.err;
  for (int fd : {ready[0], ready[1], done[0], done[1], report[0]}) close(fd);
}

// A planted record naming one of the victim's own descriptors (a private
// ledger): the victim's O_TRUNC open must not truncate and overwrite it.
TEST(Records, ARecordNamingTheVictimsOwnFileIsNeverFollowed) {
  REQUIRE_SECOND_USER();
  SharedDir d;
  REQUIRE_DISK(d.dir);
  // This process's own backing directory (1777, made on first use).
  std::string warm = record_name("warm");
  close(shm_open(warm.c_str(), O_CREAT | O_RDWR, 0600));
  shm_unlink(warm.c_str());
  std::string name = record_name("queue");
  std::string ledger = d.root / "ledger";
  int fd = open(ledger.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "balance 100 20 bytes", 20), 20);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  pid_t self = getpid();
  ASSERT_EQ(as_attacker([&] {
              return plant_record(backing_dir() + "/" + name, self, fd, st, 0) ? 0 : 1;
            }),
            0);
  // Through this process's own librt: the record names this very process.
  int q = shm_open(name.c_str(), O_RDWR | O_TRUNC, 0);
  int err = errno;
  if (q >= 0) {
    ftruncate(q, 4096);
    pwrite(q, "JOB-QUEUE", 9, 0);
    close(q);
  }
  EXPECT_EQ(q, -1);
  EXPECT_EQ(err, EACCES);
  char seen[32] = {};
  ASSERT_EQ(pread(fd, seen, sizeof seen - 1, 0), 20);
  EXPECT_STREQ(seen, "balance 100 20 bytes");
  close(fd);
  unlink((backing_dir() + "/" + name).c_str());
}

// A copy of a record at another name is not a second name for the object:
// the record names its own inode.
TEST(Records, ACopiedRecordDoesNotMakeTwoNamesShareAnObject) {
  SharedDir d;
  REQUIRE_DISK(d.dir);
  const std::string a = record_name("a"), b = record_name("b");
  ProcResult made = run({probe(), "shm_open " + a + " O_CREAT|O_EXCL|O_RDWR 0600", "pwrite object-a"},
                        d.env());
  ASSERT_EQ(made.exit_code(), 0) << made.err;
  char bytes[sizeof(keeper::Record)];
  int fa = open((d / a).c_str(), O_RDONLY);
  ASSERT_EQ(pread(fa, bytes, sizeof bytes, 0), (ssize_t)sizeof bytes);
  close(fa);
  int fb = open((d / b).c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600);
  ASSERT_EQ(write(fb, bytes, sizeof bytes), (ssize_t)sizeof bytes);
  ASSERT_EQ(fchmod(fb, keeper::kRecordMode), 0);
  close(fb);
  ProcResult r = run({probe(), "shm_open " + b + " O_RDWR 0", "pwrite object-b",
                      "shm_open " + a + " O_RDONLY 0", "pread 8"},
                     d.env());
  EXPECT_EQ(r.out, "shm_open " + b + " O_RDWR 0 -> -1 EACCES\npwrite object-b -> -1 EBADF\n" +
                       "shm_open " + a + " O_RDONLY 0 -> fd cloexec\npread 8 -> object-a\n")
      << r.err;
}

// The record's mode is its owner's alone, whatever the object's: an object
// created 0666 and narrowed with fchmod has no record another user may
// rewrite, and the narrowing holds for opens by name, as for a file.
TEST(Records, NobodyElseCanWriteARecordAndFchmodNarrowsTheObject) {
  REQUIRE_SECOND_USER();
  SharedDir d;
  REQUIRE_DISK(d.dir);
  const std::string wide = record_name("wide"), n2 = record_name("n2");
  ProcResult made = run({"/bin/sh", "-c", "umask 0 && exec \"$@\"", "sh", probe(),
                         "shm_open " + wide + " O_CREAT|O_EXCL|O_RDWR 0666", "pwrite data"},
                        d.env());
  ASSERT_EQ(made.exit_code(), 0) << made.err;
  int fw = open((d / wide).c_str(), O_RDWR);
  struct stat st;
  ASSERT_EQ(fstat(fw, &st), 0);
  close(fw);
  EXPECT_EQ(st.st_mode & 07777, 01600u);
  EXPECT_EQ(as_attacker([&] {
              int w = open((d / wide).c_str(), O_WRONLY);
              if (w >= 0) close(w);
              return w < 0 && errno == EACCES ? 0 : 1;
            }),
            0)
      << "another user may rewrite the record";
  // Narrowed by its owner (another user here, so that permissions apply).
  ProcResult narrowed = run_as_attacker(
      {probe(), "shm_open " + n2 + " O_CREAT|O_EXCL|O_RDWR 0644", "fchmod 0400", "close",
       "shm_open " + n2 + " O_RDWR 0", "shm_open " + n2 + " O_RDONLY 0", "shm_unlink " + n2},
      d.env());
  EXPECT_EQ(narrowed.out,
            "shm_open " + n2 + " O_CREAT|O_EXCL|O_RDWR 0644 -> fd cloexec\nfchmod 0400 -> 0\n" +
                "close -> 0\nshm_open " + n2 + " O_RDWR 0 -> -1 EACCES\nshm_open " + n2 +
                " O_RDONLY 0 -> fd cloexec\nshm_unlink " + n2 + " -> 0\n")
      << narrowed.err;
}

// fs.protected_regular as stock glibc meets it: another user's file at the
// name, in a sticky world-writable directory owned by someone else, opened
// with O_CREAT.  Compared with stock glibc on a directory of the same shape.
TEST(Records, ProtectedRegularRefusesAsForStock) {
  REQUIRE_SECOND_USER();
  SharedDir d;
  REQUIRE_DISK(d.dir);
  TempDir stock_root("stock-sticky");
  std::string stock_dir = stock_root / "shm";
  mkdir(stock_dir.c_str(), 01777);
  chmod(stock_dir.c_str(), 01777);
  for (const std::string& dir : {d.dir, stock_dir}) {
    ASSERT_EQ(as_attacker([&] {
                int f = open((dir + "/planted").c_str(), O_CREAT | O_EXCL | O_RDWR, 0666);
                return f >= 0 && fchmod(f, 0666) == 0 ? 0 : 1;
              }),
              0);
  }
  // Stock glibc opens "/dev/shm/NAME": an open() with the same flags on the
  // same kind of directory is what it does.
  int f = open((stock_dir + "/planted").c_str(), O_CREAT | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
  std::string theirs = f >= 0 ? "fd" : strerror(errno);
  if (f >= 0) close(f);
  ProcResult ours = run({probe(), "shm_open planted O_CREAT|O_RDWR 0600"}, d.env());
  std::string want = "shm_open planted O_CREAT|O_RDWR 0600 -> " +
                     (theirs == "fd" ? std::string("fd cloexec") : "-1 EACCES") + "\n";
  EXPECT_EQ(ours.out, want) << "stock: " << theirs << "\n" << ours.err;
}

// --- 2, 3. Nobody's socket hangs a caller or the keeper -----------------------

// Binds `addr` as kAttacker with a backlog of 0 and fills it, so that a
// connect there waits; returns the squatter's pid (killed by the caller).
pid_t squat(const struct sockaddr_un& addr, socklen_t len) {
  int ready[2];
  if (pipe(ready) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(kAttacker, kAttacker, kAttacker) != 0 ||
        setresuid(kAttacker, kAttacker, kAttacker) != 0)
      _exit(99);
    int l = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    if (bind(l, reinterpret_cast<const struct sockaddr*>(&addr), len) != 0 || listen(l, 0) != 0)
      _exit(98);
    for (int i = 0; i < 4; ++i) {
      int c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);
      connect(c, reinterpret_cast<const struct sockaddr*>(&addr), len);
    }
    ssize_t w = write(ready[1], "y", 1);
    (void)w;
    for (;;) pause();
  }
  close(ready[1]);
  char c = 0;
  ssize_t n = read(ready[0], &c, 1);
  close(ready[0]);
  if (n != 1) {
    waitpid(pid, nullptr, 0);
    return -1;
  }
  return pid;
}

void unsquat(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Another user holds the keeper's name with a full backlog: shm_open does not
// wait for ever; it makes a plain file (the object works, only slower).
TEST(Squatters, AFullListenerAtTheKeepersNameDoesNotHangShmOpen) {
  REQUIRE_SECOND_USER();
  SharedDir d;
  REQUIRE_DISK(d.dir);
  struct stat dirst;
  ASSERT_EQ(stat(d.dir.c_str(), &dirst), 0);
  struct sockaddr_un addr;
  socklen_t len = keeper::socket_address(geteuid(), dirst, &addr);
  pid_t squatter = squat(addr, len);
  ASSERT_GT(squatter, 0);
  auto t0 = std::chrono::steady_clock::now();
  ProcResult r = run({"/usr/bin/timeout", "-s", "KILL", "60", probe(),
                      "shm_open x O_CREAT|O_EXCL|O_RDWR 0600", "pwrite works", "pread 5"},
                     d.env());
  double took = seconds_since(t0);
  unsquat(squatter);
  EXPECT_EQ(r.out, "shm_open x O_CREAT|O_EXCL|O_RDWR 0600 -> fd cloexec\npwrite works -> 5\n"
                   "pread 5 -> works\n")
      << r.err;
  EXPECT_LT(took, 10.0);
}

// A record of ours names a keeper pid whose own name another user squats
// (that keeper is gone): neither the creator clearing it nor the keeper
// judging it waits on the squatter, and other callers are served meanwhile.
TEST(Squatters, ASquattedKeeperNameHangsNeitherTheKeeperNorItsClients) {
  REQUIRE_SECOND_USER();
  SharedDir d;
  REQUIRE_DISK(d.dir);
  ProcResult made = run({probe(), "shm_open important O_CREAT|O_EXCL|O_RDWR 0600",
                         "pwrite kept"},
                        d.env());
  ASSERT_EQ(made.exit_code(), 0) << made.err;
  struct stat dirst;
  ASSERT_EQ(stat(d.dir.c_str(), &dirst), 0);
  // The squatter's own pid is the "keeper" the record names.
  int pid_pipe[2];
  ASSERT_EQ(pipe(pid_pipe), 0);
  pid_t fake = fork();
  if (fake == 0) {
    struct sockaddr_un addr;
    socklen_t len = keeper::socket_address(geteuid(), dirst, &addr, getpid());
    pid_t s = squat(addr, len);
    ssize_t w = write(pid_pipe[1], &s, sizeof s);
    (void)w;
    for (;;) pause();
  }
  pid_t squatter = 0;
  ASSERT_EQ(read(pid_pipe[0], &squatter, sizeof squatter), (ssize_t)sizeof squatter);
  ASSERT_GT(squatter, 0);
  int m = (int)syscall(SYS_memfd_create, "gone", 0);
  struct stat mst;
  ASSERT_EQ(fstat(m, &mst), 0);
  // Its holder: a descriptor the fake keeper does not have.
  ASSERT_TRUE(plant_record(d / "stale", fake, 999, mst, fake));
  close(m);
  auto t0 = std::chrono::steady_clock::now();
  Started creator = start({"/usr/bin/timeout", "-s", "KILL", "60", probe(),
                           "shm_open stale O_CREAT|O_RDWR 0600"},
                          d.env());
  usleep(300 * 1000);
  ProcResult other = run({"/usr/bin/timeout", "-s", "KILL", "60", probe(),
                          "shm_open important O_RDONLY 0", "pread 4"},
                         d.env());
  double other_took = seconds_since(t0);
  ProcResult c = finish(creator);
  double creator_took = seconds_since(t0);
  unsquat(squatter);
  kill(fake, SIGKILL);
  waitpid(fake, nullptr, 0);
  EXPECT_EQ(other.out, "shm_open important O_RDONLY 0 -> fd cloexec\npread 4 -> kept\n")
      << other.err;
  EXPECT_EQ(c.out, "shm_open stale O_CREAT|O_RDWR 0600 -> fd cloexec\n") << c.err;
  EXPECT_LT(other_took, 5.0);
  EXPECT_LT(creator_took, 5.0);
}

// --- 4. A stalled creator loses nothing ----------------------------------------

// The creator is stopped, for longer than any sweep interval, at the two
// points around its hand-over: once the memfd is sent, and just before the
// record is linked.  The object is there after the creator exits.
TEST(Stalls, ACreatorStoppedAroundItsHandOverLosesNothing) {
  if (!ptrace_unavailable().empty()) GTEST_SKIP() << ptrace_unavailable();
  SharedDir d;
  REQUIRE_DISK(d.dir);
  std::string name = record_name("results");  // a record: its link is the moment stalled
  int stalls = 0;
  {
    Tracee t(victim_argv({"--warm"}, {"shm_open", name, std::to_string(O_CREAT | O_EXCL | O_RDWR),
                                      "600"}),
             victim_env(d.dir));
    SyscallStop stop;
    while (t.next(&stop)) {
      bool sent = !stop.entry && stop.nr == SYS_sendmsg;
      bool linking = stop.entry && stop.nr == SYS_linkat;
      if (sent || linking) {
        ++stalls;
        usleep(4500 * 1000);  // two sweeps (keeper.cpp: kSweepMs)
      }
    }
    int status = t.finish();
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << t.output();
    ASSERT_TRUE(parse_victim(t.output()).ok) << t.output();
  }
  EXPECT_EQ(stalls, 2);
  ProcResult r = run({probe(), "shm_open " + name + " O_RDONLY 0",
                      "shm_open " + name + " O_CREAT|O_EXCL|O_RDWR 0600"},
                     d.env());
  EXPECT_EQ(r.out, "shm_open " + name + " O_RDONLY 0 -> fd cloexec\nshm_open " + name +
                       " O_CREAT|O_EXCL|O_RDWR 0600 -> -1 EEXIST\n")
      << r.err;
}

// --- 5. Another network namespace -----------------------------------------------

// A process in another network namespace (same user, same directory) cannot
// reach the keeper's socket: it still finds the object (through the keeper's
// /proc), and never has a live object removed as stale.
TEST(Namespaces, AnotherNetworkNamespaceNeitherLosesNorRemovesObjects) {
  if (!is_root()) GTEST_SKIP() << "needs root for unshare -n";
  if (access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "no unshare";
  SharedDir d;
  REQUIRE_DISK(d.dir);
  ProcResult made = run({probe(), "shm_open model O_CREAT|O_EXCL|O_RDWR 0600", "pwrite weights"},
                        d.env());
  ASSERT_EQ(made.exit_code(), 0) << made.err;
  ProcResult can = run({"/usr/bin/unshare", "-n", "true"});
  if (can.exit_code() != 0) GTEST_SKIP() << "unshare -n: " << can.err;
  ProcResult other = run({"/usr/bin/unshare", "-n", probe(), "shm_open model O_RDONLY 0",
                          "pread 7", "shm_open model O_CREAT|O_RDWR 0600", "pread 7",
                          "shm_open model O_CREAT|O_EXCL|O_RDWR 0600"},
                         d.env());
  EXPECT_EQ(other.out, "shm_open model O_RDONLY 0 -> fd cloexec\npread 7 -> weights\n"
                       "shm_open model O_CREAT|O_RDWR 0600 -> fd cloexec\npread 7 -> weights\n"
                       "shm_open model O_CREAT|O_EXCL|O_RDWR 0600 -> -1 EEXIST\n")
      << other.err;
  ProcResult here = run({probe(), "shm_open model O_RDONLY 0", "pread 7", "shm_unlink model"},
                        d.env());
  EXPECT_EQ(here.out, "shm_open model O_RDONLY 0 -> fd cloexec\npread 7 -> weights\n"
                      "shm_unlink model -> 0\n")
      << here.err;
}

// --- 6. Junk on the keeper's socket -------------------------------------------

// The keeper of `dir` started directly; its pid, once it listens.
pid_t start_keeper(const std::string& dir) {
  const char* keeper = getenv("LAMBSHM_TEST_KEEPER");
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int sv[2];
  if (keeper == nullptr || dfd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return -1;
  pid_t first = fork();
  if (first == 0) {
    dup2(dfd, keeper::kDirFd);
    dup2(sv[1], keeper::kStatusFd);
    // (dup2 onto itself keeps FD_CLOEXEC.)
    fcntl(keeper::kDirFd, F_SETFD, 0);
    fcntl(keeper::kStatusFd, F_SETFD, 0);
    execl(keeper, "lambshm-keeper", nullptr);
    _exit(127);
  }
  close(sv[1]);
  close(dfd);
  waitpid(first, nullptr, 0);
  char c = 0;
  bool ready = read(sv[0], &c, 1) == 1 && c == keeper::kReady;
  close(sv[0]);
  if (!ready) return -1;
  // The keeper is the first process's child: find it by its directory.
  struct stat dirst;
  stat(dir.c_str(), &dirst);
  for (const std::string& e : list_dir("/proc")) {
    if (e.find_first_not_of("0123456789") != std::string::npos) continue;
    struct stat st;
    if (stat(("/proc/" + e + "/fd/3").c_str(), &st) == 0 && st.st_ino == dirst.st_ino &&
        st.st_dev == dirst.st_dev) {
      char comm[32] = {};
      int f = open(("/proc/" + e + "/comm").c_str(), O_RDONLY);
      ssize_t n = read(f, comm, sizeof comm - 1);
      close(f);
      if (n > 0 && strncmp(comm, "lambshm-keeper", 14) == 0) return (pid_t)std::stoi(e);
    }
  }
  return -1;
}

int connect_to(const std::string& dir) {
  struct stat dirst;
  stat(dir.c_str(), &dirst);
  struct sockaddr_un addr;
  socklen_t len = keeper::socket_address(geteuid(), dirst, &addr);
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  keeper::Reply hello;
  if (connect(s, reinterpret_cast<struct sockaddr*>(&addr), len) != 0 ||
      recv(s, &hello, sizeof hello, 0) != (ssize_t)sizeof hello) {
    close(s);
    return -1;
  }
  return s;
}

size_t fd_count(pid_t pid) { return list_dir("/proc/" + std::to_string(pid) + "/fd").size(); }

// Random and truncated messages with random descriptors (zero to three in
// each of zero to two SCM_RIGHTS messages): the keeper ends with exactly the
// descriptors it had, and still serves.
TEST(Junk, RandomMessagesAndDescriptorsLeaveTheKeeperAsItWas) {
  SharedDir d;
  REQUIRE_DISK(d.dir);
  pid_t keeper = start_keeper(d.dir);
  ASSERT_GT(keeper, 0);
  int s = connect_to(d.dir);
  ASSERT_GE(s, 0);
  usleep(50 * 1000);
  size_t before = fd_count(keeper);
  std::mt19937 rng(25);
  int spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int m = (int)syscall(SYS_memfd_create, "junk", 0);
  for (int i = 0; i < 2000; ++i) {
    keeper::Request req;
    unsigned char* raw = reinterpret_cast<unsigned char*>(&req);
    for (size_t k = 0; k < sizeof req; ++k) raw[k] = (unsigned char)rng();
    if (rng() % 2) req.magic = keeper::kRequestMagic;
    if (rng() % 2) req.op = (keeper::Op)(rng() % 6);
    if (rng() % 2) snprintf(req.name, sizeof req.name, "n%u", (unsigned)(rng() % 8));
    // (Never empty: an empty message reads as the end of the connection; below.)
    size_t length = rng() % 4 == 0 ? 1 + rng() % (sizeof req + 8) : sizeof req;
    alignas(struct cmsghdr) char control[2 * CMSG_SPACE(3 * sizeof(int))] = {};
    struct iovec iov = {&req, std::min(length, sizeof req)};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    size_t used = 0;
    int groups = rng() % 3;
    for (int g = 0; g < groups; ++g) {
      int n = 1 + rng() % 3;
      auto* c = reinterpret_cast<struct cmsghdr*>(control + used);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(n * sizeof(int));
      for (int k = 0; k < n; ++k) {
        int fd = rng() % 2 ? spare : m;
        memcpy(CMSG_DATA(c) + k * sizeof(int), &fd, sizeof fd);
      }
      used += CMSG_SPACE(n * sizeof(int));
    }
    if (used > 0) {
      msg.msg_control = control;
      msg.msg_controllen = used;
    }
    if (sendmsg(s, &msg, MSG_NOSIGNAL) < 0 && errno != EINVAL) {
      // An empty message reads as the end of the connection: the keeper
      // hangs up, and the junk goes on on a new one.
      if (errno != EPIPE && errno != ECONNRESET) {
        ADD_FAILURE() << "send " << i << ": " << strerror(errno);
        break;
      }
      close(s);
      s = connect_to(d.dir);
      ASSERT_GE(s, 0);
    }
    // Answers to questions asked on this connection: read and discard.
    char sink[64];
    while (recv(s, sink, sizeof sink, MSG_DONTWAIT) > 0) {
    }
  }
  // An empty message with descriptors, on a connection of its own: the
  // keeper hangs up, and closes them.
  {
    int e = connect_to(d.dir);
    ASSERT_GE(e, 0);
    char none = 0;
    struct iovec iov = {&none, 0};
    alignas(struct cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(2 * sizeof(int));
    int two[2] = {spare, m};
    memcpy(CMSG_DATA(c), two, sizeof two);
    EXPECT_EQ(sendmsg(e, &msg, MSG_NOSIGNAL), 0);
    close(e);
  }
  // A question drains everything sent before it.
  int q = connect_to(d.dir);
  ASSERT_GE(q, 0);
  keeper::Request get{};
  get.magic = keeper::kRequestMagic;
  get.op = keeper::Op::kGet;
  ASSERT_EQ(send(q, &get, sizeof get, MSG_NOSIGNAL), (ssize_t)sizeof get);
  keeper::Reply answer{};
  EXPECT_EQ(recv(q, &answer, sizeof answer, 0), (ssize_t)sizeof answer);
  EXPECT_EQ(answer.error, -ENOENT);
  close(q);
  size_t after = 0;
  for (int i = 0; i < 300 && (after = fd_count(keeper)) != before; ++i) usleep(10 * 1000);
  std::string fds;
  for (const std::string& e : list_dir("/proc/" + std::to_string(keeper) + "/fd")) {
    char target[256] = {};
    readlink(("/proc/" + std::to_string(keeper) + "/fd/" + e).c_str(), target, sizeof target - 1);
    fds += " " + e + "=" + target;
  }
  EXPECT_EQ(after, before) << "descriptors the keeper had before the junk and after:" << fds;
  close(s);
  close(spare);
  close(m);
  for (int i = 0; i < 300 && kill(keeper, 0) == 0; ++i) usleep(10 * 1000);
  EXPECT_NE(kill(keeper, 0), 0) << "the keeper did not exit once idle";
}

// --- 7. A full keeper ----------------------------------------------------------

long cpu_ticks(pid_t pid) {
  char buf[1024] = {};
  int f = open(("/proc/" + std::to_string(pid) + "/stat").c_str(), O_RDONLY);
  if (f < 0) return 0;
  ssize_t n = read(f, buf, sizeof buf - 1);
  close(f);
  if (n <= 0) return 0;
  const char* p = strrchr(buf, ')');
  long utime = 0, stime = 0;
  // Fields after the command: state (3) ... utime (14), stime (15).
  sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime, &stime);
  return utime + stime;
}

// At a descriptor limit of 64, 400 objects fill retired keepers: none of
// them spins, and every object stays reachable by name.
TEST(Limits, FullRetiredKeepersNeitherSpinNorLoseTheirObjects) {
  // qemu-user opens descriptors of its own in the process it emulates, under
  // the same limit: at 64 the keeper's count of what it may open is wrong.
  if (emulator() != nullptr) GTEST_SKIP() << "the emulator shares the descriptor limit: " << emulator();
  SharedDir d;
  REQUIRE_DISK(d.dir);
  constexpr int kObjects = 400;
  // Records (names too long for the table): retirement is about them.
  auto name = [](int i) { return "o" + std::to_string(i) + "-" + std::string(80, 'r'); };
  std::vector<std::string> argv = {"/bin/sh", "-c", "ulimit -n 64 && exec \"$0\" \"$@\"", probe()};
  for (int i = 0; i < kObjects; ++i) {
    argv.push_back("shm_open " + name(i) + " O_CREAT|O_EXCL|O_RDWR 0600");
    argv.push_back("pwrite v" + std::to_string(i));
    argv.push_back("close");
  }
  ProcResult r = run(argv, d.env());
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  // Readers, as the limit allows them, every 20th object.
  int readable = 0, sampled = 0;
  for (int i = 0; i < kObjects; i += 20) {
    ++sampled;
    std::string n = name(i), want = "v" + std::to_string(i);
    ProcResult c = run({"/usr/bin/timeout", "-s", "KILL", "30", probe(),
                        "shm_open " + n + " O_RDONLY 0", "pread " + std::to_string(want.size())},
                       d.env());
    bool ok = c.out == "shm_open " + n + " O_RDONLY 0 -> fd cloexec\npread " +
                           std::to_string(want.size()) + " -> " + want + "\n";
    readable += ok;
    if (!ok) printf("%s: %s%s", n.c_str(), c.out.c_str(), c.err.c_str());
  }
  EXPECT_EQ(readable, sampled);
  // No keeper spins: over a second, their CPU time together stays small.
  struct stat dirst;
  ASSERT_EQ(stat(d.dir.c_str(), &dirst), 0);
  std::vector<pid_t> keepers;
  for (const std::string& e : list_dir("/proc")) {
    if (e.find_first_not_of("0123456789") != std::string::npos) continue;
    struct stat st;
    if (stat(("/proc/" + e + "/fd/3").c_str(), &st) == 0 && st.st_ino == dirst.st_ino &&
        st.st_dev == dirst.st_dev)
      keepers.push_back((pid_t)std::stoi(e));
  }
  long t0 = 0, t1 = 0;
  for (pid_t k : keepers) t0 += cpu_ticks(k);
  usleep(1000 * 1000);
  for (pid_t k : keepers) t1 += cpu_ticks(k);
  long hz = sysconf(_SC_CLK_TCK);
  printf("[ figures ] %d objects at a limit of 64: %zu keepers, %d of %d sampled readable, "
         "%ld ticks of CPU in 1 s (%ld a second)\n",
         kObjects, keepers.size(), readable, sampled, t1 - t0, hz);
  EXPECT_LT(t1 - t0, hz / 5);
  for (int i = 0; i < kObjects; ++i) unlink((d / name(i)).c_str());
}

// --- 8. A full disk ------------------------------------------------------------

// /tmp (ext4) full: a create fails with ENOSPC, as a file's would, never a
// plain file that dies with SIGBUS on first touch; existing objects work.
TEST(FullDisk, ACreateOnAFullDiskIsEnospc) {
  if (!is_root()) GTEST_SKIP() << "needs root to mount";
  if (system("command -v mkfs.ext4 >/dev/null 2>&1") != 0) GTEST_SKIP() << "mkfs.ext4 is missing";
  TempDir root("full-ext4");
  std::string mnt = root / "mnt", image = root / "fs.img";
  mkdir(mnt.c_str(), 0755);
  std::string out = in_mount_namespace([&] {
    std::string why = mount_small_ext4(image, mnt);
    if (!why.empty()) return "SKIP: " + why;
    std::string dir = mnt + "/shm";
    run({probe(), "shm_open early O_CREAT|O_RDWR 0600", "pwrite early"}, {"LAMBSHM_DIR=" + dir});
    fill_filesystem(mnt + "/filler");
    ProcResult full = run({probe(), "shm_open new O_CREAT|O_RDWR 0600", "shm_open early O_RDONLY 0",
                           "pread 5"},
                          {"LAMBSHM_DIR=" + dir});
    umount2(mnt.c_str(), MNT_DETACH);
    return full.out;
  });
  if (out.rfind("SKIP: ", 0) == 0) GTEST_SKIP() << out.substr(6);
  EXPECT_EQ(out, "shm_open new O_CREAT|O_RDWR 0600 -> -1 ENOSPC\n"
                 "shm_open early O_RDONLY 0 -> fd cloexec\npread 5 -> early\n");
}

}  // namespace
}  // namespace lambshm::test
