// The name table (core/name_table.h) under failure: bucket locks held by
// processes that died or stopped, creators and keepers SIGKILLed, exclusive
// creates racing on one name and in one bucket, a bucket that fills, and
// unlink and re-create racing.  Real processes and real signals; the test
// maps the table file itself to plant a lock holder and to read slots.
#include "old_abi.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "api_env.h"
#include "name_table.h"
#include "table_view.h"
#include "test_util.h"

namespace lambshm::test {
namespace {

namespace nt = name_table;

int64_t now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// The emulator is slower at everything: bounds scale with it.
int bound_ms(int ms) { return emulator() != nullptr ? ms * 5 : ms; }

uint32_t bucket_of(const std::string& name) { return TableView::bucket_of(name); }

// A fresh name (unique_name) whose home is bucket `b`.
std::string name_in_bucket(uint32_t b, const char* tag) {
  for (;;) {
    std::string n = unique_name(tag);
    if (bucket_of(n) == b) return n;
  }
}

// The keeper named in the slot of `name` once it took the memfd, or 0.
pid_t keeper_in_slot(const TableView& m, const std::string& name) {
  for (int waited = 0; waited < bound_ms(5000); waited += 10) {
    const nt::Slot* s = m.live(name);
    if (s != nullptr && s->keeper_pid > 0) return s->keeper_pid;
    usleep(10 * 1000);
  }
  return 0;
}

// Waits for child `pid` for at most `ms`: its wait status, or -1 when it did
// not finish in time (it is then killed).
int wait_bounded(pid_t pid, int ms) {
  int64_t deadline = now_ms() + ms;
  int status;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (now_ms() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    usleep(1000);
  }
  return status;
}

// Runs `body` in a child: its exit code (-1 when it took more than `ms` and
// was killed, -2 when it died otherwise); how long it took in *took_ms.
template <typename Body>
int in_child(Body body, int ms, int64_t* took_ms = nullptr) {
  int64_t start = now_ms();
  pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status = wait_bounded(pid, ms);
  if (took_ms != nullptr) *took_ms = now_ms() - start;
  if (status == -1) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
}

// 0 when `name` is created exclusively, else errno.
int create_exclusive(const std::string& name) {
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

// The first bytes of the object `name`, through shm_open and pread; or
// "errno N" when it does not open.
std::string read_object(const std::string& name, size_t n = 32) {
  int fd = shm_open(name.c_str(), O_RDONLY, 0);
  if (fd < 0) return "errno " + std::to_string(errno);
  std::string data(n, '\0');
  ssize_t got = pread(fd, data.data(), n, 0);
  close(fd);
  data.resize(got < 0 ? 0 : (size_t)got);
  return data.substr(0, data.find('\0'));
}

bool is_record_file(const std::string& name) {
  struct stat st;
  return lstat((backing_dir() + "/" + name).c_str(), &st) == 0 && (st.st_mode & S_ISVTX) != 0;
}

// An object this process holds, so that the table exists and a keeper lives
// (a keeper with nothing to hold exits).
class Anchor {
 public:
  Anchor() : name_(unique_name("anchor")) {
    fd_ = shm_open(name_.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  }
  ~Anchor() {
    if (fd_ >= 0) close(fd_);
    shm_unlink(name_.c_str());
  }
  bool ok() const { return fd_ >= 0; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  int fd_;
};

size_t fd_count(pid_t pid) { return list_dir("/proc/" + std::to_string(pid) + "/fd").size(); }

// The memfds keeper `pid` holds for objects no live name has any more: a
// leak.  Not counted: memfds it made in advance for a process's creates and
// not yet used (a fresh memfd's mode is 0777, which a create always sets to
// the object's), nor those a live slot of `table` names.
int unlinked_memfds_held(pid_t pid, const TableView& table) {
  int leaks = 0;
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  for (const std::string& fd : list_dir(dir)) {
    char target[256] = {};
    struct stat st;
    if (readlink((dir + "/" + fd).c_str(), target, sizeof target - 1) <= 0 ||
        strncmp(target, "/memfd:", 7) != 0 || stat((dir + "/" + fd).c_str(), &st) != 0 ||
        (st.st_mode & 07777) == 0777)
      continue;
    leaks += !table.names_inode(st.st_ino);
  }
  return leaks;
}

// What process `pid` has open, one "N -> target" a line: said when a count is off.
std::string fds_of(pid_t pid) {
  std::string out, dir = "/proc/" + std::to_string(pid) + "/fd";
  for (const std::string& fd : list_dir(dir)) {
    char target[256] = {};
    ssize_t n = readlink((dir + "/" + fd).c_str(), target, sizeof target - 1);
    out += fd + " -> " + (n > 0 ? target : "?") + "\n";
  }
  return out;
}

// The backing directory with its table and a keeper: this test holds an
// object (a keeper with nothing to hold exits).
class TableWithKeeper : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_MEMFD();
    ASSERT_TRUE(anchor_.ok()) << strerror(errno);
    table_ = std::make_unique<TableView>(backing_dir());
    ASSERT_TRUE(table_->mapped());
    keeper_ = keeper_in_slot(*table_, anchor_.name());
    ASSERT_GT(keeper_, 0);
  }
  const TableView& m() const { return *table_; }

  Anchor anchor_;
  std::unique_ptr<TableView> table_;
  pid_t keeper_ = 0;
};

// A process that held a bucket's lock and died (reaped, or a zombie not yet
// reaped) never unlocks it: the next locker takes it over within moments.
TEST_F(TableWithKeeper, ALockOfAKilledHolderIsTakenOver) {
  const TableView& m = this->m();
  for (bool reaped : {true, false}) {
    pid_t holder = fork();
    if (holder == 0) {
      pause();
      _exit(0);
    }
    ASSERT_EQ(kill(holder, SIGKILL), 0);
    siginfo_t info;
    // A zombie: dead, not reaped (WNOWAIT leaves it so).
    ASSERT_EQ(waitid(P_PID, holder, &info, WEXITED | (reaped ? 0 : WNOWAIT)), 0);
    std::string name = unique_name(reaped ? "dead-holder" : "zombie-holder");
    m.lock(name)->owner.store((uint32_t)holder);
    int64_t took;
    EXPECT_EQ(in_child([&] { return create_exclusive(name); }, bound_ms(20000), &took), 0)
        << (reaped ? "reaped" : "zombie") << " holder";
    printf("[ figures ] lock of a %s holder taken over; the create took %lld ms\n",
           reaped ? "dead" : "zombie", (long long)took);
    EXPECT_LT(took, bound_ms(2000));
    EXPECT_EQ(m.lock(name)->owner.load(), 0u);
    ASSERT_NE(m.live(name), nullptr) << "not in the table";
    EXPECT_EQ(read_object(name), "");  // there, empty, held by the keeper
    EXPECT_EQ(shm_unlink(name.c_str()), 0);
    if (!reaped) waitpid(holder, nullptr, 0);
  }
}

// A process stopped while holding a bucket's lock is alive: creates in that
// bucket wait for it, and only them; other buckets and the keeper carry on,
// and once it dies the waiter goes through.
TEST_F(TableWithKeeper, AStoppedHolderStallsOnlyItsBucket) {
  const TableView& m = this->m();
  pid_t keeper = keeper_;
  size_t keeper_fds = fd_count(keeper);
  pid_t holder = fork();
  if (holder == 0) {
    for (;;) pause();
  }
  ASSERT_EQ(kill(holder, SIGSTOP), 0);
  int status;
  ASSERT_EQ(waitpid(holder, &status, WUNTRACED), holder);
  ASSERT_TRUE(WIFSTOPPED(status));
  std::string stalled = unique_name("stalled");
  uint32_t b = bucket_of(stalled);
  m.lock(stalled)->owner.store((uint32_t)holder);
  pid_t waiter = fork();
  if (waiter == 0) _exit(create_exclusive(stalled));
  // Other buckets: objects made by processes that exit at once live on in
  // the keeper, which took each memfd and wrote itself into its slot.
  constexpr int kOthers = 20;
  std::vector<std::string> others;
  for (int i = 0; i < kOthers; ++i) {
    std::string n = unique_name("beside");
    if (bucket_of(n) == b) continue;
    others.push_back(n);
    int64_t took;
    int rc = in_child(
        [&] {
          int fd = shm_open(n.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
          return fd >= 0 && pwrite(fd, n.c_str(), n.size(), 0) == (ssize_t)n.size() ? 0 : errno;
        },
        bound_ms(10000), &took);
    EXPECT_EQ(rc, 0) << n << " took " << took << " ms";
  }
  for (const std::string& n : others) {
    EXPECT_EQ(read_object(n, n.size()), n);
    EXPECT_EQ(keeper_in_slot(m, n), keeper) << n;
  }
  EXPECT_EQ(waitpid(waiter, &status, WNOHANG), 0) << "a create went through a live holder's lock";
  EXPECT_EQ(m.live(stalled), nullptr);
  for (const std::string& n : others) EXPECT_EQ(shm_unlink(n.c_str()), 0);
  // The keeper let go of them all: it answers hand-overs and drops alike.  (It
  // may hold fewer than before: memfds it had made in advance for us, used since.)
  for (int waited = 0; fd_count(keeper) > keeper_fds && waited < bound_ms(10000); waited += 10)
    usleep(10 * 1000);
  EXPECT_LE(fd_count(keeper), keeper_fds);
  // The holder dies: the waiter takes the lock over and creates.
  ASSERT_EQ(kill(holder, SIGKILL), 0);
  waitpid(holder, nullptr, 0);
  status = wait_bounded(waiter, bound_ms(5000));
  ASSERT_NE(status, -1) << "the waiter still waits for a dead holder";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_NE(m.live(stalled), nullptr);
  EXPECT_EQ(shm_unlink(stalled.c_str()), 0);
  EXPECT_EQ(kill(keeper, 0), 0) << "the keeper died";
}

// A creator SIGKILLed as soon as shm_open returned (and its data written)
// loses nothing: its memfd was the keeper's before shm_open returned.
TEST(TableCrash, ACreatorKilledRightAfterShmOpenLeavesItsObject) {
  REQUIRE_MEMFD();
  for (int round = 0; round < 20; ++round) {
    std::string name = unique_name("killed-creator");
    pid_t creator = fork();
    if (creator == 0) {
      int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
      if (fd < 0) _exit(1);
      pwrite(fd, name.c_str(), name.size(), 0);
      raise(SIGKILL);
      _exit(2);
    }
    int status;
    ASSERT_EQ(waitpid(creator, &status, 0), creator);
    ASSERT_TRUE(WIFSIGNALED(status)) << "round " << round << ": status " << status;
    std::string seen;
    EXPECT_EQ(in_child([&] { return read_object(name, name.size()) == name ? 0 : 1; },
                       bound_ms(10000)),
              0)
        << "round " << round << ": another process reads " << read_object(name, name.size());
    EXPECT_EQ(shm_unlink(name.c_str()), 0);
  }
}

// The keeper SIGKILLed: every slot naming it is stale.  An object nobody else
// holds is gone (ENOENT, its name free for O_EXCL), as a reboot takes
// /dev/shm's; one its creator holds stays reachable by name until closed.
TEST(TableCrash, AKilledKeepersSlotsGoStale) {
  REQUIRE_MEMFD();
  std::string held = unique_name("held"), dropped = unique_name("dropped");
  int fd = shm_open(held.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(pwrite(fd, "before", 6, 0), 6);
  ASSERT_EQ(in_child([&] { return create_exclusive(dropped); }, bound_ms(10000)), 0);
  TableView m(backing_dir());
  ASSERT_TRUE(m.mapped());
  pid_t keeper = keeper_in_slot(m, held);
  ASSERT_GT(keeper, 0);
  ASSERT_EQ(keeper_in_slot(m, dropped), keeper);
  uint64_t held_ino = m.live(held)->ino;
  ASSERT_EQ(kill(keeper, SIGKILL), 0);
  for (int waited = 0; !process_gone(keeper) && waited < 5000; ++waited) usleep(1000);
  ASSERT_TRUE(process_gone(keeper));
  // Nobody holds `dropped`: gone, and its name reusable.
  EXPECT_EQ(read_object(dropped), "errno " + std::to_string(ENOENT));
  EXPECT_EQ(create_exclusive(dropped), 0);
  // Under qemu-user, about 1 run in 3 the object re-created here is then not
  // found and its slot freed as stale (issue 27's note: not understood; never
  // seen natively in hundreds of runs).  Known, so not asserted there.
  if (emulator() == nullptr) EXPECT_EQ(read_object(dropped), "");
  // This process holds `held`: reachable, and not to be created again.
  EXPECT_EQ(in_child([&] { return read_object(held) == "before" ? 0 : 1; }, bound_ms(10000)), 0);
  EXPECT_EQ(create_exclusive(held), EEXIST);
  close(fd);
  EXPECT_EQ(read_object(held), "errno " + std::to_string(ENOENT));
  EXPECT_EQ(create_exclusive(held), 0);
  const nt::Slot* s = m.live(held);
  ASSERT_NE(s, nullptr);
  EXPECT_NE(s->ino, held_ino);  // a new object, in the table
  EXPECT_EQ(read_object(held), "");
  EXPECT_EQ(shm_unlink(held.c_str()), 0);
  if (emulator() == nullptr) EXPECT_EQ(shm_unlink(dropped.c_str()), 0);
  else shm_unlink(dropped.c_str());
}

// Processes released together, racing O_CREAT|O_EXCL: `per_name` on each
// of `names`.  Each winner writes its pid into its object and exits.  Returns
// for each name the pids that won; a failure other than EEXIST fails the test.
std::vector<std::vector<pid_t>> race_exclusive(const std::vector<std::string>& names,
                                               int per_name) {
  int gate[2];
  EXPECT_EQ(pipe(gate), 0);
  std::vector<pid_t> pids;
  for (int k = 0; k < per_name; ++k) {
    for (const std::string& name : names) {
      pid_t pid = fork();
      if (pid == 0) {
        close(gate[1]);
        char c;
        read(gate[0], &c, 1);  // released when the gate closes
        int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd < 0) _exit(errno == EEXIST ? 1 : 10);
        std::string me = std::to_string(getpid());
        _exit(pwrite(fd, me.c_str(), me.size(), 0) == (ssize_t)me.size() ? 0 : 11);
      }
      pids.push_back(pid);
    }
  }
  close(gate[0]);
  close(gate[1]);
  std::vector<std::vector<pid_t>> won(names.size());
  for (size_t i = 0; i < pids.size(); ++i) {
    int status = wait_bounded(pids[i], bound_ms(60000));
    int code = status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    EXPECT_TRUE(code == 0 || code == 1) << names[i % names.size()] << ": status " << status;
    if (code == 0) won[i % names.size()].push_back(pids[i]);
  }
  return won;
}

// Exactly one winner per name, and the object by that name is the winner's.
void expect_exactly_once(const std::vector<std::string>& names,
                         const std::vector<std::vector<pid_t>>& won) {
  for (size_t i = 0; i < names.size(); ++i) {
    ASSERT_EQ(won[i].size(), 1u) << names[i];
    EXPECT_EQ(read_object(names[i]), std::to_string(won[i][0])) << names[i];
  }
}

TEST(TableRace, ExclusiveCreatesOfOneNameHaveOneWinner) {
  REQUIRE_MEMFD();
  for (int round = 0; round < 5; ++round) {
    std::vector<std::string> names = {unique_name("excl")};
    expect_exactly_once(names, race_exclusive(names, 12));
    TableView m(backing_dir());
    EXPECT_NE(m.live(names[0]), nullptr) << "not in the table";
    EXPECT_EQ(shm_unlink(names[0].c_str()), 0);
  }
}

TEST(TableRace, ExclusiveCreatesOfNamesSharingABucketHaveOneWinnerEach) {
  REQUIRE_MEMFD();
  uint32_t b = bucket_of(unique_name("pick"));
  std::vector<std::string> names;
  for (uint32_t i = 0; i < nt::kSlotsPerBucket; ++i) names.push_back(name_in_bucket(b, "shared"));
  expect_exactly_once(names, race_exclusive(names, 3));
  TableView m(backing_dir());
  for (const std::string& n : names) {
    EXPECT_NE(m.live(n), nullptr) << n << " is not in the table";
    EXPECT_EQ(shm_unlink(n.c_str()), 0);
  }
}

// More names than a bucket has slots: those that do not fit are record
// files, and each name still has exactly one winner.
TEST(TableRace, ABucketThatFillsStillGivesOneWinnerEach) {
  REQUIRE_MEMFD();
  uint32_t b = bucket_of(unique_name("pick"));
  std::vector<std::string> names;
  for (uint32_t i = 0; i < nt::kSlotsPerBucket + 3; ++i) names.push_back(name_in_bucket(b, "full"));
  expect_exactly_once(names, race_exclusive(names, 3));
  TableView m(backing_dir());
  int in_table = 0, records = 0;
  for (const std::string& n : names) {
    in_table += m.live(n) != nullptr;
    records += is_record_file(n);
  }
  EXPECT_EQ(in_table, (int)nt::kSlotsPerBucket);
  EXPECT_EQ(records, 3);
  for (const std::string& n : names) EXPECT_EQ(shm_unlink(n.c_str()), 0);
  // Freed slots take names again; the ninth of a full bucket is a record.
  std::vector<std::string> again;
  for (uint32_t i = 0; i <= nt::kSlotsPerBucket; ++i) {
    again.push_back(name_in_bucket(b, "refill"));
    EXPECT_EQ(in_child([&] { return create_exclusive(again.back()); }, bound_ms(10000)), 0);
  }
  EXPECT_NE(m.live(again[nt::kSlotsPerBucket - 1]), nullptr);
  EXPECT_TRUE(is_record_file(again[nt::kSlotsPerBucket]));
  EXPECT_EQ(create_exclusive(again[nt::kSlotsPerBucket]), EEXIST);
  for (const std::string& n : again) EXPECT_EQ(shm_unlink(n.c_str()), 0);
}

// Processes looping "create exclusively, check, unlink" on one name: whoever
// wins holds the only object of that name (never two owners at once, its
// reopen by name is its own object) until it unlinks it (which never finds
// it gone).  The keeper lets go of every unlinked memfd.
TEST_F(TableWithKeeper, UnlinkAndRecreateOfOneNameNeverMakeTwoObjects) {
  const TableView& m = this->m();
  pid_t keeper = keeper_;
  size_t baseline = fd_count(keeper);
  std::string name = unique_name("recreate");
  struct Shared {
    std::atomic<int> owners, most, wins, crossed, lost, other;
  };
  auto* sh = static_cast<Shared*>(
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(sh, MAP_FAILED);
  new (sh) Shared{};
  constexpr int kProcs = 4, kRounds = 1000;
  int gate[2];
  ASSERT_EQ(pipe(gate), 0);
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = fork();
    if (pid == 0) {
      close(gate[1]);
      char c;
      read(gate[0], &c, 1);  // all released at once, when the gate closes
      for (int r = 0; r < kRounds; ++r) {
        int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd < 0) {
          if (errno != EEXIST) sh->other++;
          continue;
        }
        int n = ++sh->owners;
        for (int most = sh->most.load(); n > most && !sh->most.compare_exchange_weak(most, n);) {
        }
        sh->wins++;
        char token[32];
        int len = snprintf(token, sizeof token, "%d.%d", getpid(), r);
        pwrite(fd, token, len, 0);
        struct stat mine, seen;
        fstat(fd, &mine);
        int again = shm_open(name.c_str(), O_RDWR, 0);
        char got[32] = {};
        if (again < 0) {
          sh->lost++;
        } else {
          fstat(again, &seen);
          pread(again, got, len, 0);
          if (seen.st_ino != mine.st_ino || memcmp(got, token, len) != 0) sh->crossed++;
          close(again);
        }
        --sh->owners;
        if (shm_unlink(name.c_str()) != 0) sh->lost++;
        close(fd);
      }
      _exit(0);
    }
    pids.push_back(pid);
  }
  close(gate[0]);
  close(gate[1]);
  for (pid_t pid : pids) {
    int status = wait_bounded(pid, bound_ms(120000));
    EXPECT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  printf("[ figures ] %d processes x %d rounds on one name: %d exclusive creates won, at most %d "
         "owners at once, %d crossed, %d lost, %d other errors\n",
         kProcs, kRounds, sh->wins.load(), sh->most.load(), sh->crossed.load(), sh->lost.load(),
         sh->other.load());
  // Enough wins to mean something; how many is the scheduler's to decide.
  EXPECT_GT(sh->wins.load(), kRounds / 10);
  EXPECT_EQ(sh->most.load(), 1);
  EXPECT_EQ(sh->crossed.load(), 0);
  EXPECT_EQ(sh->lost.load(), 0);
  EXPECT_EQ(sh->other.load(), 0);
  munmap(sh, sizeof(Shared));
  EXPECT_EQ(m.live(name), nullptr);
  EXPECT_EQ(read_object(name), "errno " + std::to_string(ENOENT));
  // Its descriptor count is no measure: it makes memfds in advance for our
  // creates, batches of 2 to 16.  What must be gone is every unlinked one.
  for (int waited = 0; unlinked_memfds_held(keeper, m) > 0 && waited < bound_ms(10000); waited += 10)
    usleep(10 * 1000);
  EXPECT_EQ(unlinked_memfds_held(keeper, m), 0) << "the keeper still holds unlinked memfds:\n"
                                                 << fds_of(keeper);
  EXPECT_EQ(keeper_in_slot(m, anchor_.name()), keeper);
}

}  // namespace
}  // namespace lambshm::test
