// sem_open racing everything else, deterministically: the caller (the victim)
// is frozen at each of its system calls in turn, and while it is frozen
// another party acts on the same name:
//   - another thread of the same process opens it (the per-process table:
//     one mapping per file, references counted, nothing leaked);
//   - another process removes it (sem_unlink racing sem_open);
//   - another process removes it and creates it again (re-creation);
//   - another process creates it (a competing creator);
// also after the backing directory vanished, when the caller (and the other
// thread) must open it again.
// Whatever the interleaving, the caller gets a complete semaphore with a value
// some creator gave it, or the errno its flags allow; it leaks no descriptor
// or mapping; and no temporary file is left in the directory.
#include "old_abi.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

#include "test_util.h"
#include "tracer.h"
#include "victim_run.h"

namespace lambshm::test {
namespace {

const std::string& ptrace_problem() {
  static const std::string why = ptrace_unavailable();
  return why;
}

enum class Other { kThreadOpens, kUnlinks, kRecreates, kCreates };
const char* name_of(Other o) {
  switch (o) {
    case Other::kThreadOpens: return "a_thread_opens_it";
    case Other::kUnlinks: return "another_process_unlinks_it";
    case Other::kRecreates: return "another_process_recreates_it";
    case Other::kCreates: return "another_process_creates_it";
  }
  return "?";
}

struct Caller {
  const char* label;
  bool fallback;  // no O_TMPFILE
  int flags;
  bool exists;    // the name exists beforehand (value kOld)
  bool vanished = false;  // the directory was deleted after the process opened it
};

void PrintTo(const Caller& c, std::ostream* os) { *os << c.label; }
void PrintTo(Other o, std::ostream* os) { *os << name_of(o); }

constexpr unsigned kMine = 1, kOld = 5, kTheirs = 7;

class Interleaving : public ::testing::TestWithParam<std::tuple<Caller, Other>> {};

TEST_P(Interleaving, TheCallerGetsACompleteSemaphoreOrAnAllowedErrorAndLeaksNothing) {
  if (!ptrace_problem().empty()) GTEST_SKIP() << ptrace_problem();
  const Caller& c = std::get<0>(GetParam());
  const Other other = std::get<1>(GetParam());
  std::string name = unique_name("race");
  std::string file = "sem." + name;
  std::vector<std::string> options = {"--warm"};
  if (c.fallback) options.push_back("--fallback");
  if (other == Other::kThreadOpens) options.push_back("--peer");
  if (c.vanished) options.push_back("--vanish");
  std::vector<std::string> call = {"sem_open", name, std::to_string(c.flags), "600",
                                   std::to_string(kMine)};
  std::set<long> legitimate;  // values some creator gave the name
  if (c.exists) legitimate.insert(kOld);
  if (c.flags & O_CREAT) legitimate.insert(kMine);
  if (other == Other::kRecreates || other == Other::kCreates) legitimate.insert(kTheirs);

  int points = 0, peer_blocked = 0;
  for (int point = 0;; ++point) {
    TempDir root("interleave");
    std::string dir = root / "shm";
    ASSERT_EQ(mkdir(dir.c_str(), 01777), 0);
    if (c.exists) {
      ASSERT_EQ(plant_semaphore(dir, name, kOld), 0);
    }
    int to_peer[2], from_peer[2];
    ASSERT_EQ(pipe2(to_peer, O_CLOEXEC), 0);
    ASSERT_EQ(pipe2(from_peer, O_CLOEXEC), 0);
    std::string where;
    int status;
    std::string output;
    {
      Tracee t(victim_argv(options, call), victim_env(dir), {{to_peer[0], 3}, {from_peer[1], 4}});
      close(to_peer[0]);
      close(from_peer[1]);
      SyscallStop s;
      int exits = 0;
      bool acted = false;
      while (t.next(&s)) {
        if (s.entry || exits++ != point) continue;
        where = "while frozen after syscall " + std::to_string(s.nr) + " (exit stop " +
                std::to_string(point) + ")";
        acted = true;
        switch (other) {
          case Other::kThreadOpens: {
            ASSERT_EQ(write(to_peer[1], "x", 1), 1);
            // The thread may need a lock the frozen caller holds: then it
            // finishes once the caller goes on.  Which happens is a matter of
            // interleaving, not of pass or fail.
            pollfd p{from_peer[0], POLLIN, 0};
            if (poll(&p, 1, 300) != 1) ++peer_blocked;
            break;
          }
          case Other::kUnlinks: unlink((dir + "/" + file).c_str()); break;
          case Other::kRecreates: {
            unlink((dir + "/" + file).c_str());
            int r = plant_semaphore(dir, name, kTheirs);
            ASSERT_TRUE(r == 0 || (c.vanished && r == ENOENT)) << strerror(r);
            break;
          }
          case Other::kCreates: plant_semaphore(dir, name, kTheirs); break;
        }
      }
      status = t.finish();
      output = t.output();
      close(to_peer[1]);
      close(from_peer[0]);
      if (!acted) break;  // past the last stop
    }
    ++points;
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << where << "\n" << output;
    VictimReport r = parse_victim(output);
    ASSERT_TRUE(r.parsed) << where << "\n" << output;
    if (r.ok) {
      EXPECT_TRUE(r.has_sem && r.inode != 0) << where << "\n" << output;
      EXPECT_TRUE(legitimate.count(r.value)) << where << ": value " << r.value;
      if (c.flags & O_EXCL) {
        EXPECT_EQ(r.value, (int)kMine) << where;
      }
    } else if (c.flags & O_EXCL) {
      EXPECT_EQ(r.error, EEXIST) << where;
    } else if (!(c.flags & O_CREAT)) {
      EXPECT_EQ(r.error, ENOENT) << where;
    } else {
      ADD_FAILURE() << where << ": O_CREAT failed with " << strerrorname_np(r.error);
    }
    if (r.peer_reported && !r.peer_ok) {
      // Before the name exists the thread finds nothing; once it exists, a
      // complete semaphore.  Anything else (EINVAL: too small) means a
      // half-made semaphore was visible.
      EXPECT_EQ(r.peer_error, ENOENT) << where << "\n" << output;
    }
    if (r.peer_reported && r.peer_ok) {
      // One mapping per file per process, shared by every sem_open of it,
      // and each sem_open holds its own reference.
      if (r.ok && r.peer_inode == r.inode) {
        EXPECT_EQ(r.peer_addr, r.addr) << where << "\n" << output;
      }
      EXPECT_EQ(r.peer_still_mapped, "yes") << where << "\n" << output;
    }
    EXPECT_TRUE(r.leaks.empty()) << where << "\n" << output;
    for (const std::string& e : list_dir(dir)) {
      EXPECT_EQ(e, file) << where << ": left in the directory";
      if (e == file) {
        EXPECT_TRUE(legitimate.count(semaphore_file_value(dir + "/" + e)))
            << where << ": the file under the name is not a complete semaphore";
      }
    }
  }
  EXPECT_GT(points, 3);
  printf("[ figures ] %s, %s: frozen at %d points%s\n", c.label, name_of(other), points,
         other == Other::kThreadOpens
             ? (", the thread waited for the caller at " + std::to_string(peer_blocked)).c_str()
             : "");
}

INSTANTIATE_TEST_SUITE_P(
    EveryPoint, Interleaving,
    ::testing::Combine(
        ::testing::Values(Caller{"O_CREAT_new_name", false, O_CREAT, false},
                          Caller{"O_CREAT_existing_name", false, O_CREAT, true},
                          Caller{"open_existing_name", false, 0, true},
                          Caller{"O_EXCL_new_name", false, O_CREAT | O_EXCL, false},
                          Caller{"O_CREAT_new_name_no_O_TMPFILE", true, O_CREAT, false},
                          Caller{"O_EXCL_new_name_no_O_TMPFILE", true, O_CREAT | O_EXCL, false},
                          // Both threads find the directory gone and open it
                          // again: one descriptor between them, none lost.
                          Caller{"O_CREAT_after_the_directory_vanished", false, O_CREAT, false,
                                 true}),
        ::testing::Values(Other::kThreadOpens, Other::kUnlinks, Other::kRecreates,
                          Other::kCreates)),
    [](const ::testing::TestParamInfo<std::tuple<Caller, Other>>& info) {
      return std::string(std::get<0>(info.param).label) + "_while_" +
             name_of(std::get<1>(info.param));
    });

}  // namespace
}  // namespace lambshm::test
