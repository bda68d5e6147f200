// Bad input: every shape of name, bad flags and modes, null pointers,
// invalid timespecs, values past SEM_VALUE_MAX.  lambshm never crashes, gives
// a clear errno, creates nothing but the one file a valid name stands for,
// and agrees with this machine's stock glibc (2.36) wherever docs/differences.md does
// not list a deliberate divergence.  Names whose stock behaviour would touch
// shared, untagged files in /dev/shm ("." makes "sem..") are compared with
// real glibc 2.31 in a private /dev/shm instead (tests/overlay/differential.ops).
#include "old_abi.h"

// Null arguments are passed on purpose.
#pragma GCC diagnostic ignored "-Wnonnull"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "api_env.h"
#include "name_table.h"
#include "stock.h"
#include "table_view.h"
#include "test_util.h"

namespace lambshm::test {
namespace {

// --- Names --------------------------------------------------------------

struct Outcome {
  int error;  // 0: success
  bool operator==(const Outcome&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << (o.error ? strerrorname_np(o.error) : "ok");
}

struct NameCase {
  const char* label;
  std::string name;   // "@" is replaced by a unique tag
  int sem_open, sem_unlink, shm_open, shm_unlink;  // lambshm's errno (0: ok)
  bool same_as_stock;  // stock glibc 2.36 gives the same four results
  size_t length = 0;   // when set: the tag padded with 'x' to this many bytes
  // Not asked of stock glibc, whose answer would be an untagged file in a
  // shared /dev/shm ("." and ".." make "sem..": tests/overlay/differential.ops
  // compares those with glibc 2.31 in a private one).
  bool ask_stock = true;
};
void PrintTo(const NameCase& c, std::ostream* os) { *os << c.label; }

std::string root_of_backing_dir() { return backing_dir().substr(0, backing_dir().rfind('/')); }

class Names : public ::testing::TestWithParam<NameCase> {};

TEST_P(Names, EachShapeGivesItsErrnoAndOnlyItsOwnFile) {
  const NameCase& c = GetParam();
  std::string tag = unique_name("n");
  std::string name = c.name;
  if (size_t at = name.find('@'); at != std::string::npos) name.replace(at, 1, tag);
  if (c.length != 0) name = tag + std::string(c.length - tag.size(), 'x');
  sem_unlink("no-such-semaphore");  // the backing directory exists
  std::vector<std::string> around = list_dir(root_of_backing_dir());
  std::vector<std::string> before = list_dir(backing_dir());
  std::string stripped = name.substr(name.find_first_not_of('/') == std::string::npos
                                         ? name.size()
                                         : name.find_first_not_of('/'));

  auto run_ours = [&](std::vector<std::string>* files_sem, std::vector<std::string>* files_shm) {
    std::vector<Outcome> r;
    sem_t* s = sem_open(name.c_str(), O_CREAT, 0600, 1);
    r.push_back({s == SEM_FAILED ? errno : 0});
    if (s != SEM_FAILED) sem_close(s);
    *files_sem = list_dir(backing_dir());
    r.push_back({sem_unlink(name.c_str()) == 0 ? 0 : errno});
    int fd = shm_open(name.c_str(), O_CREAT | O_RDWR, 0600);
    r.push_back({fd < 0 ? errno : 0});
    if (fd >= 0) close(fd);
    *files_shm = list_dir(backing_dir());
    r.push_back({shm_unlink(name.c_str()) == 0 ? 0 : errno});
    return r;
  };
  std::vector<std::string> files_sem, files_shm;
  std::vector<Outcome> ours = run_ours(&files_sem, &files_shm);
  std::vector<Outcome> expected = {{c.sem_open}, {c.sem_unlink}, {c.shm_open}, {c.shm_unlink}};
  EXPECT_EQ(ours, expected) << "sem_open, sem_unlink, shm_open, shm_unlink of a "
                            << name.size() << "-byte name";
  // A valid name stands for exactly one file, directly in the backing
  // directory; or for none, as a memfd object's name in the table (core/name_table.h).
  auto plus = [&](const std::string& f) {
    std::vector<std::string> v = before;
    if (memfd_unavailable().empty() && f.size() <= name_table::kMaxName) return v;
    v.push_back(f);
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(files_sem, c.sem_open == 0 ? plus("sem." + stripped) : before);
  EXPECT_EQ(files_shm, c.shm_open == 0 ? plus(stripped) : before);
  EXPECT_EQ(list_dir(backing_dir()), before);
  EXPECT_EQ(list_dir(root_of_backing_dir()), around) << "something was made beside the directory";

  if (!c.ask_stock) return;
  std::vector<Outcome> theirs;
  sem_t* s = stock::sem_open(name.c_str(), O_CREAT, 0600, 1);
  theirs.push_back({s == SEM_FAILED ? errno : 0});
  if (s != SEM_FAILED) stock::sem_close(s);
  theirs.push_back({stock::sem_unlink(name.c_str()) == 0 ? 0 : errno});
  int fd = stock::shm_open(name.c_str(), O_CREAT | O_RDWR, 0600);
  theirs.push_back({fd < 0 ? errno : 0});
  if (fd >= 0) close(fd);
  theirs.push_back({stock::shm_unlink(name.c_str()) == 0 ? 0 : errno});
  if (c.same_as_stock) EXPECT_EQ(ours, theirs) << "stock glibc 2.36 differs";
  else EXPECT_NE(ours, theirs) << "a documented divergence is gone";
}

INSTANTIATE_TEST_SUITE_P(
    EveryShape, Names,
    ::testing::Values(
        NameCase{"empty", "", EINVAL, ENOENT, EINVAL, ENOENT, true},
        NameCase{"slash_only", "/", EINVAL, ENOENT, EINVAL, ENOENT, true},
        NameCase{"slashes_only", "////", EINVAL, ENOENT, EINVAL, ENOENT, true},
        NameCase{"embedded_slash", "@/b", EINVAL, ENOENT, EINVAL, ENOENT, true},
        NameCase{"trailing_slash", "/@/", EINVAL, ENOENT, EINVAL, ENOENT, true},
        NameCase{"leading_slashes", "///@", 0, 0, 0, 0, true},
        NameCase{"dot", ".", EINVAL, ENOENT, EINVAL, ENOENT, false, 0, false},
        NameCase{"dot_dot", "..", EINVAL, ENOENT, EINVAL, ENOENT, false, 0, false},
        NameCase{"slash_dot_dot", "//..", EINVAL, ENOENT, EINVAL, ENOENT, false, 0, false},
        NameCase{"three_dots", "...", 0, 0, 0, 0, true, 0, false},
        NameCase{"dots_inside", "@..x", 0, 0, 0, 0, true},
        NameCase{"control_characters", "@\x01\x1f\x7f\n\t\r", 0, 0, 0, 0, true},
        NameCase{"not_utf8", "@\xff\xfe\xc0\xaf\xed\xa0\x80", 0, 0, 0, 0, true},
        NameCase{"spaces_and_shell", "@ $(x) `y` *;|&", 0, 0, 0, 0, true},
        NameCase{"backslash", "@\\..\\..", 0, 0, 0, 0, true},
        NameCase{"the_temporaries_prefix", ".lambshm-tmp-@", 0, 0, 0, 0, true},
        NameCase{"251_bytes", "", 0, 0, 0, 0, true, 251},  // the longest semaphore name
        NameCase{"252_bytes", "", ENAMETOOLONG, ENAMETOOLONG, 0, 0, true, 252},
        NameCase{"255_bytes", "", ENAMETOOLONG, ENAMETOOLONG, 0, 0, true, 255},
        // Past NAME_MAX stock says EINVAL (ENOENT from sem_unlink) for semaphores,
        // and for shm objects too once past its path buffer.
        NameCase{"256_bytes", "", ENAMETOOLONG, ENAMETOOLONG, ENAMETOOLONG, ENAMETOOLONG, false,
                 256},
        NameCase{"4096_bytes", "", ENAMETOOLONG, ENAMETOOLONG, ENAMETOOLONG, ENAMETOOLONG, false,
                 4096},
        NameCase{"65536_bytes", "", ENAMETOOLONG, ENAMETOOLONG, ENAMETOOLONG, ENAMETOOLONG, false,
                 65536}),
    [](const ::testing::TestParamInfo<NameCase>& info) { return std::string(info.param.label); });

// --- Flags and modes --------------------------------------------------------

// Whether an object is there by that name, asked through the API (a memfd
// object's name may have no file: core/name_table.h).
bool shm_exists(const std::string& name) {
  int fd = shm_open(name.c_str(), O_RDONLY, 0);
  if (fd >= 0) close(fd);
  return fd >= 0 || errno != ENOENT;
}

// The mode of the semaphore `file` mapped at `addr`: its file's, or, for a
// memfd whose name has no file, the memfd's, through /proc/self/map_files
// (which qemu-user does not emulate) or the keeper named in its slot.
mode_t sem_mode(const std::string& file, const void* addr) {
  struct stat st {};
  if (stat((backing_dir() + "/" + file).c_str(), &st) == 0) return st.st_mode;
  std::string line = mapping_at(addr);
  if (!line.empty() &&
      stat(("/proc/self/map_files/" + line.substr(0, line.find(' '))).c_str(), &st) == 0)
    return st.st_mode;
  TableView table(backing_dir());
  for (int waited = 0; waited < 5000; waited += 10) {
    const name_table::Slot* s = table.live(file);
    if (s != nullptr && s->keeper_pid > 0) {
      std::string fd = "/proc/" + std::to_string(s->keeper_pid) + "/fd/" + std::to_string(s->keeper_fd);
      return stat(fd.c_str(), &st) == 0 ? st.st_mode : 0;
    }
    usleep(10 * 1000);
  }
  return 0;
}

// shm_open passes the caller's flags to the kernel (adding O_NOFOLLOW and
// O_CLOEXEC), as glibc does: every flag combination gives stock's result.
TEST(Flags, ShmOpenAnswersEveryFlagCombinationAsStockDoes) {
  std::vector<int> flags = {O_RDONLY, O_WRONLY, O_RDWR, O_ACCMODE, O_RDWR | O_APPEND,
                            O_RDWR | O_NONBLOCK, O_RDWR | O_SYNC, O_RDONLY | O_DIRECTORY,
                            O_RDWR | O_NOCTTY, O_PATH, O_RDWR | __O_TMPFILE, O_RDWR | O_TRUNC,
                            O_RDONLY | O_TRUNC, -1, INT_MAX, INT_MIN};
  int checked = 0;
  for (bool create : {false, true}) {
    for (int f : flags) {
      std::string name = unique_name("flags");
      int with = create ? f | O_CREAT : f;
      int ours = shm_open(name.c_str(), with, 0600);
      Outcome o{ours < 0 ? errno : 0};
      bool ours_made = shm_exists(name);
      if (ours >= 0) close(ours);
      shm_unlink(name.c_str());
      int theirs = stock::shm_open(name.c_str(), with, 0600);
      Outcome t{theirs < 0 ? errno : 0};
      bool theirs_made = access((std::string(kStockShmDir) + "/" + name).c_str(), F_OK) == 0;
      if (theirs >= 0) close(theirs);
      stock::shm_unlink(name.c_str());
      EXPECT_EQ(o, t) << "flags " << std::hex << with;
      EXPECT_EQ(ours_made, theirs_made) << "flags " << std::hex << with;
      ++checked;
    }
  }
  printf("[ figures ] %d flag combinations compared with stock glibc\n", checked);
}

// sem_open uses only O_CREAT and O_EXCL (docs/differences.md: flags such as O_TRUNC would
// truncate a live semaphore): any other bit changes nothing.
TEST(Flags, SemOpenIgnoresEveryOtherFlag) {
  std::vector<int> extra = {O_WRONLY, O_ACCMODE, O_TRUNC, O_APPEND, O_NONBLOCK, O_DIRECTORY,
                            O_PATH, __O_TMPFILE, O_SYNC, O_NOCTTY, O_NOATIME, O_ASYNC,
                            ~(O_CREAT | O_EXCL)};
  for (int f : extra) {
    std::string name = unique_name("semflags");
    sem_t* s = sem_open(name.c_str(), O_CREAT | f, 0600, 3);
    ASSERT_NE(s, SEM_FAILED) << std::hex << f << ": " << strerror(errno);
    sem_t* again = sem_open(name.c_str(), f);  // opening with the same bits
    EXPECT_EQ(again, s) << std::hex << f;
    int v = -1;
    sem_getvalue(s, &v);
    EXPECT_EQ(v, 3) << std::hex << f;
    // Its file (a memfd's whose name is in the table has none) unchanged.
    struct stat st;
    if (stat((backing_dir() + "/sem." + name).c_str(), &st) == 0)
      EXPECT_EQ(st.st_size, 32) << std::hex << f << ": the semaphore's file was changed";
    if (again != SEM_FAILED) sem_close(again);
    sem_close(s);
    sem_unlink(name.c_str());
  }
}

// The mode of a new object is the caller's, minus the umask, as in stock
// glibc: whatever bits the caller passes, including type bits and garbage.
TEST(Modes, TheFileModeIsStocksForEveryMode) {
  mode_t old = umask(022);
  for (mode_t mode : std::vector<mode_t>{0000, 0600, 0666, 0777, 01777, 02755, 04755, 07777,
                                         S_IFDIR | 0640, (mode_t)0xffffffff}) {
    std::string name = unique_name("mode");
    struct stat ours_sem{}, theirs_sem{}, ours_shm{}, theirs_shm{};
    sem_t* s = sem_open(name.c_str(), O_CREAT | O_EXCL, mode, 0);
    ASSERT_NE(s, SEM_FAILED) << std::oct << mode;
    ours_sem.st_mode = sem_mode("sem." + name, s);
    sem_close(s);
    sem_unlink(name.c_str());
    s = stock::sem_open(name.c_str(), O_CREAT | O_EXCL, mode, 0);
    ASSERT_NE(s, SEM_FAILED) << std::oct << mode;
    stat((std::string(kStockShmDir) + "/sem." + name).c_str(), &theirs_sem);
    stock::sem_close(s);
    stock::sem_unlink(name.c_str());
    int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, mode);
    ASSERT_GE(fd, 0) << std::oct << mode;
    fstat(fd, &ours_shm);
    close(fd);
    shm_unlink(name.c_str());
    fd = stock::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, mode);
    ASSERT_GE(fd, 0) << std::oct << mode;
    fstat(fd, &theirs_shm);
    close(fd);
    stock::shm_unlink(name.c_str());
    EXPECT_EQ(ours_sem.st_mode, theirs_sem.st_mode) << "sem_open mode " << std::oct << mode;
    EXPECT_EQ(ours_shm.st_mode, theirs_shm.st_mode) << "shm_open mode " << std::oct << mode;
  }
  umask(old);
}

// --- Values -----------------------------------------------------------------

TEST(Values, PastSemValueMaxAreEinvalAndCreateNothing) {
  for (unsigned value : {(unsigned)SEM_VALUE_MAX + 1, 0x80000001u, UINT_MAX}) {
    std::string name = unique_name("big");
    errno = 0;
    EXPECT_EQ(sem_open(name.c_str(), O_CREAT, 0600, value), SEM_FAILED);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, value), SEM_FAILED);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_NE(access((backing_dir() + "/sem." + name).c_str(), F_OK), 0);
    EXPECT_EQ(stock::sem_open(name.c_str(), O_CREAT, 0600, value), SEM_FAILED);
    EXPECT_EQ(errno, EINVAL);
    sem_t unnamed;
    EXPECT_EQ(sem_init(&unnamed, 1, value), -1);
    EXPECT_EQ(errno, EINVAL);
    // The value only matters when the semaphore is created: an existing one
    // opens whatever value is passed, as in glibc.
    sem_t* s = sem_open(name.c_str(), O_CREAT, 0600, 2);
    ASSERT_NE(s, SEM_FAILED);
    EXPECT_EQ(sem_open(name.c_str(), O_CREAT, 0600, value), s);
    sem_close(s);
    sem_close(s);
    sem_unlink(name.c_str());
  }
  sem_t s;
  ASSERT_EQ(sem_init(&s, 0, SEM_VALUE_MAX), 0);
  EXPECT_EQ(sem_post(&s), -1);
  EXPECT_EQ(errno, EOVERFLOW);
}

// --- Timespecs --------------------------------------------------------------

struct Deadline {
  long sec, nsec;
  int value;  // of the semaphore
};

TEST(Timespecs, EveryDeadlineGivesStocksAnswer) {
  std::vector<Deadline> cases;
  for (int value : {0, 1}) {
    for (long nsec : {-1L, LONG_MIN, 1000000000L, LONG_MAX, 999999999L, 0L}) {
      for (long sec : {LONG_MIN, -1L, 0L}) cases.push_back({sec, nsec, value});
    }
  }
  for (const Deadline& d : cases) {
    sem_t ours, theirs;
    sem_init(&ours, 0, d.value);
    stock::sem_init(&theirs, 0, d.value);
    timespec ts{d.sec, d.nsec};
    int o = sem_timedwait(&ours, &ts) == 0 ? 0 : errno;
    int t = stock::sem_timedwait(&theirs, &ts) == 0 ? 0 : errno;
    EXPECT_EQ(o, t) << "{" << d.sec << ", " << d.nsec << "} on a semaphore of " << d.value;
    int ov = -1, tv = -1;
    sem_getvalue(&ours, &ov);
    stock::sem_getvalue(&theirs, &tv);
    EXPECT_EQ(ov, tv);
  }
}

// A deadline far in the future must not be taken for one in the past.
TEST(Timespecs, AFarDeadlineStillWaits) {
  sem_t s;
  sem_init(&s, 0, 0);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(1);  // SIGALRM ends the wait: killed by it means it waited
    timespec far{LONG_MAX, 999999999};
    sem_timedwait(&s, &far);
    _exit(0);
  }
  int status;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) << status;
}

// --- Null pointers ------------------------------------------------------------

// How a call ended: its errno (0 for success) or the signal that killed it.
struct Ending {
  int error = 0;
  int signal = 0;
};
Ending in_child(const std::function<int()>& call) {
  pid_t pid = fork();
  if (pid == 0) {
    alarm(10);
    _exit(call() == 0 ? 0 : (errno & 0x7f) | 0x80);
  }
  int status;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return {0, WTERMSIG(status)};
  int code = WEXITSTATUS(status);
  return {code & 0x80 ? code & 0x7f : 0, 0};
}
std::string describe(const Ending& e) {
  if (e.signal) return std::string("killed by ") + sigabbrev_np(e.signal);
  return e.error ? strerrorname_np(e.error) : "ok";
}

struct NullCall {
  const char* what;
  std::function<int()> ours, stock;
  int our_errno;        // lambshm: never a crash
  const char* stock36;  // what stock glibc 2.36 does, as documented in docs/differences.md
};

TEST(NullPointers, LambshmNeverCrashesAndStocksBehaviourIsAsDocumented) {
  static sem_t unnamed;
  sem_init(&unnamed, 0, 1);
  timespec ts{0, 0};
  int v;
  auto sem = [](sem_t* s) { return s == SEM_FAILED ? -1 : 0; };
  std::vector<NullCall> calls = {
      {"sem_open(NULL, 0)", [&] { return sem(sem_open(nullptr, 0)); },
       [&] { return sem(stock::sem_open_existing(nullptr, 0)); }, EINVAL, "killed by SEGV"},
      {"sem_open(NULL, O_CREAT)", [&] { return sem(sem_open(nullptr, O_CREAT, 0600, 0)); },
       [&] { return sem(stock::sem_open(nullptr, O_CREAT, 0600, 0)); }, EINVAL, "killed by SEGV"},
      {"sem_unlink(NULL)", [&] { return sem_unlink(nullptr); },
       [&] { return stock::sem_unlink(nullptr); }, ENOENT, "killed by SEGV"},
      {"shm_open(NULL)", [&] { return shm_open(nullptr, O_RDWR, 0); },
       [&] { return stock::shm_open(nullptr, O_RDWR, 0); }, EINVAL, "killed by SEGV"},
      {"shm_unlink(NULL)", [&] { return shm_unlink(nullptr); },
       [&] { return stock::shm_unlink(nullptr); }, ENOENT, "killed by SEGV"},
      {"sem_close(NULL)", [&] { return sem_close(nullptr); },
       [&] { return stock::sem_close(nullptr); }, EINVAL, "EINVAL"},
      {"sem_init(NULL)", [&] { return sem_init(nullptr, 0, 0); },
       [&] { return stock::sem_init(nullptr, 0, 0); }, EINVAL, "killed by SEGV"},
      {"sem_post(NULL)", [&] { return sem_post(nullptr); },
       [&] { return stock::sem_post(nullptr); }, EINVAL, "killed by SEGV"},
      {"sem_wait(NULL)", [&] { return sem_wait(nullptr); },
       [&] { return stock::sem_wait(nullptr); }, EINVAL, "killed by SEGV"},
      {"sem_trywait(NULL)", [&] { return sem_trywait(nullptr); },
       [&] { return stock::sem_trywait(nullptr); }, EINVAL, "killed by SEGV"},
      {"sem_timedwait(NULL, ts)", [&] { return sem_timedwait(nullptr, &ts); },
       [&] { return stock::sem_timedwait(nullptr, &ts); }, EINVAL, "killed by SEGV"},
      {"sem_timedwait(s, NULL)", [&] { return sem_timedwait(&unnamed, nullptr); },
       [&] { return stock::sem_timedwait(&unnamed, nullptr); }, EINVAL, "killed by SEGV"},
      {"sem_getvalue(NULL, &v)", [&] { return sem_getvalue(nullptr, &v); },
       [&] { return stock::sem_getvalue(nullptr, &v); }, EINVAL, "killed by SEGV"},
      {"sem_getvalue(s, NULL)", [&] { return sem_getvalue(&unnamed, nullptr); },
       [&] { return stock::sem_getvalue(&unnamed, nullptr); }, EINVAL, "killed by SEGV"},
  };
  printf("[ figures ] null pointers: call | lambshm | stock glibc 2.36\n");
  for (const NullCall& c : calls) {
    Ending ours = in_child(c.ours), theirs = in_child(c.stock);
    EXPECT_EQ(ours.signal, 0) << c.what << ": lambshm crashed";
    EXPECT_EQ(ours.error, c.our_errno) << c.what;
    EXPECT_EQ(describe(theirs), c.stock36) << c.what << ": stock glibc's behaviour changed";
    printf("[ figures ]   %-26s | %-7s | %s\n", c.what, describe(ours).c_str(),
           describe(theirs).c_str());
  }
  EXPECT_EQ(sem_destroy(nullptr), 0);  // glibc's does nothing, and neither does ours
}

}  // namespace
}  // namespace lambshm::test
