// Many processes and threads at once on the same names: O_CREAT, O_EXCL,
// plain opens, sem_close and sem_unlink, released together by a barrier.
//   - exactly one creator wins an O_CREAT|O_EXCL race, the others get EEXIST
//     and, opening the name, the winner's complete semaphore;
//   - concurrent O_CREAT creators with different values all get one and the
//     same semaphore, with the value of whichever won;
//   - under open/close/unlink churn nobody ever sees a broken semaphore
//     (SIGBUS, wrong value), every reference a thread holds stays mapped, and
//     when all is closed no mapping, descriptor or temporary file remains.
// (Deterministic interleavings of the same calls: interleave_test.cpp; the
// probe-based races of tests/api/process_test.cpp are not repeated here.)
#include "old_abi.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "api_env.h"
#include "test_util.h"

namespace lambshm::test {
namespace {

// Memory shared by every process of a test (MAP_SHARED, inherited by fork).
template <typename T>
T* shared_block() {
  void* p = mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  EXPECT_NE(p, MAP_FAILED);
  return new (p) T();
}
template <typename T>
void free_block(T* p) {
  p->~T();
  munmap(p, sizeof(T));
}

void init_barrier(pthread_barrier_t* b, unsigned count) {
  pthread_barrierattr_t attr;
  pthread_barrierattr_init(&attr);
  pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_barrier_init(b, &attr, count);
  pthread_barrierattr_destroy(&attr);
}

int count_fds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n - 1;  // opendir's own
}

// Mappings of objects' files in the backing directory.
int backing_mappings() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int n = 0;
  while (std::getline(maps, line)) n += maps_object_in(line, backing_dir());
  return n;
}

bool mapped(const void* addr) { return !mapping_at(addr).empty(); }

int value_of(sem_t* s) {
  int v = -1;
  return sem_getvalue(s, &v) == 0 ? v : -1;
}

// Runs body(process, thread) in `processes` forked processes of `threads`
// threads each.  A process exits with 0, or with bits telling what it saw
// wrong; its own leak check (descriptors and mappings back to where they
// were) adds bit 64.  Returns the wait statuses.
std::vector<int> run_everywhere(int processes, int threads,
                                const std::function<int(int, int)>& body) {
  // The backing directory's descriptor is opened once per process and kept:
  // open it here, so that it is not counted as the children's leak.
  sem_unlink("no-such-semaphore");
  std::vector<pid_t> pids;
  for (int p = 0; p < processes; ++p) {
    pid_t pid = fork();
    if (pid == 0) {
      int fds_before = count_fds();
      std::atomic<int> bits{0};
      std::vector<std::thread> ts;
      for (int t = 0; t < threads; ++t) ts.emplace_back([&, t] { bits |= body(p, t); });
      for (auto& t : ts) t.join();
      if (count_fds() != fds_before || backing_mappings() != 0) bits |= 64;
      _exit(bits);
    }
    pids.push_back(pid);
  }
  std::vector<int> statuses;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (pid_t pid : pids) {
    int status;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    statuses.push_back(status);
  }
  return statuses;
}

void expect_clean_exits(const std::vector<int>& statuses) {
  for (int s : statuses) {
    EXPECT_TRUE(WIFEXITED(s)) << (WIFSIGNALED(s) ? strsignal(WTERMSIG(s)) : "stopped");
    if (WIFEXITED(s)) {
      EXPECT_EQ(WEXITSTATUS(s) & 64, 0) << "a process leaked descriptors or mappings";
      EXPECT_EQ(WEXITSTATUS(s) & ~64, 0) << "a process saw something wrong: bits "
                                         << WEXITSTATUS(s);
    }
  }
}

void expect_no_temporaries() {
  for (const std::string& e : list_dir(backing_dir())) {
    EXPECT_NE(e.rfind(".lambshm-tmp-", 0), 0u) << "temporary file left: " << e;
  }
}

constexpr int kProcesses = 6, kThreads = 4, kContenders = kProcesses * kThreads;

TEST(Races, ExclusiveCreatorsInManyProcessesAndThreadsHaveExactlyOneWinner) {
  constexpr int kRounds = 30;
  struct Shared {
    pthread_barrier_t barrier;
    std::atomic<int> wins[kRounds], eexist[kRounds], other[kRounds], wrong_value[kRounds];
  };
  Shared* sh = shared_block<Shared>();
  init_barrier(&sh->barrier, kContenders);
  std::string base = unique_name("excl");
  auto name = [&](int r) { return base + "-" + std::to_string(r); };
  auto statuses = run_everywhere(kProcesses, kThreads, [&](int, int) {
    for (int r = 0; r < kRounds; ++r) {
      pthread_barrier_wait(&sh->barrier);
      sem_t* s = sem_open(name(r).c_str(), O_CREAT | O_EXCL, 0600, r + 1);
      if (s == SEM_FAILED) {
        if (errno != EEXIST) {
          sh->other[r]++;
          continue;
        }
        sh->eexist[r]++;
        // The winner's semaphore is complete the moment its name exists.
        s = sem_open(name(r).c_str(), 0);
        if (s == SEM_FAILED) {
          sh->other[r]++;
          continue;
        }
      } else {
        sh->wins[r]++;
      }
      if (value_of(s) != r + 1) sh->wrong_value[r]++;
      sem_close(s);
    }
    return 0;
  });
  expect_clean_exits(statuses);
  for (int r = 0; r < kRounds; ++r) {
    EXPECT_EQ(sh->wins[r], 1) << "round " << r;
    EXPECT_EQ(sh->eexist[r], kContenders - 1) << "round " << r;
    EXPECT_EQ(sh->other[r], 0) << "round " << r;
    EXPECT_EQ(sh->wrong_value[r], 0) << "round " << r;
    EXPECT_EQ(sem_unlink(name(r).c_str()), 0);
  }
  expect_no_temporaries();
  printf("[ figures ] %d processes x %d threads, %d rounds of O_CREAT|O_EXCL on one name\n",
         kProcesses, kThreads, kRounds);
  free_block(sh);
}

TEST(Races, ConcurrentCreatorsAllGetOneSemaphoreWithTheWinnersValue) {
  constexpr int kRounds = 30;
  struct Shared {
    pthread_barrier_t barrier;
    std::atomic<int> failures[kRounds];
    std::atomic<int> seen[kRounds][kContenders];
  };
  Shared* sh = shared_block<Shared>();
  init_barrier(&sh->barrier, kContenders);
  std::string base = unique_name("creat");
  auto name = [&](int r) { return base + "-" + std::to_string(r); };
  auto statuses = run_everywhere(kProcesses, kThreads, [&](int p, int t) {
    int me = p * kThreads + t;
    for (int r = 0; r < kRounds; ++r) {
      pthread_barrier_wait(&sh->barrier);
      sem_t* s = sem_open(name(r).c_str(), O_CREAT, 0600, 100 + me);  // each its own value
      if (s == SEM_FAILED) {
        sh->failures[r]++;
        continue;
      }
      sh->seen[r][me] = value_of(s);
      sem_close(s);
    }
    return 0;
  });
  expect_clean_exits(statuses);
  for (int r = 0; r < kRounds; ++r) {
    EXPECT_EQ(sh->failures[r], 0) << "round " << r;
    sem_t* s = sem_open(name(r).c_str(), 0);
    ASSERT_NE(s, SEM_FAILED);
    int winner = value_of(s);
    EXPECT_TRUE(winner >= 100 && winner < 100 + kContenders) << winner;
    for (int c = 0; c < kContenders; ++c) EXPECT_EQ(sh->seen[r][c], winner) << "round " << r;
    sem_close(s);
    sem_unlink(name(r).c_str());
  }
  expect_no_temporaries();
  printf("[ figures ] %d processes x %d threads, %d rounds of O_CREAT with different values\n",
         kProcesses, kThreads, kRounds);
  free_block(sh);
}

TEST(Races, OpenCloseUnlinkChurnNeverShowsABrokenSemaphoreOrLeaks) {
  constexpr int kChurnProcesses = 4, kChurnThreads = 3, kOps = 600, kNames = 3;
  std::string base = unique_name("churn");
  auto name = [&](unsigned i) { return base + "-" + std::to_string(i % kNames); };
  struct Shared {
    std::atomic<long> opens, closes, unlinks, enoent, eexist;
  };
  Shared* sh = shared_block<Shared>();
  auto statuses = run_everywhere(kChurnProcesses, kChurnThreads, [&](int p, int t) {
    std::mt19937 rng((unsigned)(p * 100 + t));
    std::vector<sem_t*> held;
    int bits = 0;
    for (int i = 0; i < kOps; ++i) {
      unsigned pick = rng();
      std::string n = name(pick >> 8);
      sem_t* s = SEM_FAILED;
      switch (pick % 6) {
        case 0:
        case 1: s = sem_open(n.c_str(), O_CREAT, 0600, 1); break;
        case 2: s = sem_open(n.c_str(), 0); break;
        case 3: s = sem_open(n.c_str(), O_CREAT | O_EXCL, 0600, 1); break;
        case 4:
          if (!held.empty()) {
            if (sem_close(held.back()) != 0) bits |= 1;
            held.pop_back();
            sh->closes++;
          }
          continue;
        case 5:
          if (sem_unlink(n.c_str()) == 0) sh->unlinks++;
          else if (errno == ENOENT) sh->enoent++;
          else bits |= 2;
          continue;
      }
      if (s == SEM_FAILED) {
        if (errno == ENOENT) sh->enoent++;
        else if (errno == EEXIST) sh->eexist++;
        else bits |= 4;
        continue;
      }
      sh->opens++;
      if (value_of(s) != 1) bits |= 8;  // nobody posts or waits: every semaphore holds 1
      held.push_back(s);
      if (i % 50 == 0) {
        // Other threads' sem_close must not unmap what this one holds.
        for (sem_t* h : held) {
          if (!mapped(h)) bits |= 16;
        }
      }
    }
    for (sem_t* h : held) {
      if (sem_close(h) != 0) bits |= 1;
      sh->closes++;
    }
    return bits;
  });
  expect_clean_exits(statuses);
  EXPECT_EQ(sh->opens.load(), sh->closes.load());
  for (int i = 0; i < kNames; ++i) sem_unlink(name(i).c_str());
  expect_no_temporaries();
  printf("[ figures ] %d processes x %d threads x %d operations on %d names: %ld opens, "
         "%ld unlinks, %ld ENOENT, %ld EEXIST\n",
         kChurnProcesses, kChurnThreads, kOps, kNames, sh->opens.load(), sh->unlinks.load(),
         sh->enoent.load(), sh->eexist.load());
  free_block(sh);
}

// Threads of one process creating the same new name at once: one mapping,
// shared by all of them, and none left once all have closed.
TEST(Races, ThreadsCreatingOneNameShareOneMappingAndLeaveNone) {
  constexpr int kRaceThreads = 4, kRounds = 300;
  pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, nullptr, kRaceThreads);
  std::string base = unique_name("mt");
  std::vector<sem_t*> got(kRaceThreads);
  std::atomic<int> failures{0}, different{0}, leftover{0};
  int fds_before = count_fds();
  std::vector<std::thread> threads;
  for (int t = 0; t < kRaceThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        std::string name = base + "-" + std::to_string(r);
        pthread_barrier_wait(&barrier);
        got[t] = sem_open(name.c_str(), O_CREAT, 0600, 1);
        if (got[t] == SEM_FAILED) failures++;
        pthread_barrier_wait(&barrier);
        if (t == 0) {
          for (sem_t* s : got) different += s != got[0];
        }
        pthread_barrier_wait(&barrier);
        if (got[t] != SEM_FAILED) sem_close(got[t]);
        pthread_barrier_wait(&barrier);
        if (t == 0) {
          leftover += backing_mappings();
          sem_unlink(name.c_str());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  pthread_barrier_destroy(&barrier);
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(different, 0);
  EXPECT_EQ(leftover, 0) << "mappings left after every thread closed";
  EXPECT_EQ(count_fds(), fds_before);
  printf("[ figures ] %d threads x %d rounds creating one new name at once\n", kRaceThreads,
         kRounds);
}

}  // namespace
}  // namespace lambshm::test
