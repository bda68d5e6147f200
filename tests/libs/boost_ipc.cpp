// A boost::interprocess client: a managed_shared_memory segment holding a
// counter guarded by an interprocess_semaphore (sem_init'ed, process-shared,
// inside the segment), and a named_semaphore (sem_open) the children post
// when done.  One child is forked, one is fork+exec'ed (opens everything by
// name); each adds kRounds under the semaphore, as does the parent.
//
//   boost_ipc            prints "ok boost: ..." and exits 0, or the
//                        exception as users see it ("FAIL boost: ...") and 1
//   boost_ipc child SEG SEM   (the exec'ed child)
// Leaves nothing behind: the segment and the semaphore are removed at the end.
#include <boost/interprocess/managed_shared_memory.hpp>
#include <boost/interprocess/sync/interprocess_semaphore.hpp>
#include <boost/interprocess/sync/named_semaphore.hpp>
#include <cstdio>
#include <cstring>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace bip = boost::interprocess;

namespace {
constexpr int kRounds = 20000;

struct Shared {
  bip::interprocess_semaphore mutex{1};
  long counter = 0;
  pid_t pids[3] = {0, 0, 0};
};

void work(const char* seg_name, const char* sem_name, int slot) {
  bip::managed_shared_memory seg(bip::open_only, seg_name);
  Shared* s = seg.find<Shared>("shared").first;
  if (s == nullptr) throw std::runtime_error("shared object not found in the segment");
  for (int i = 0; i < kRounds; ++i) {
    s->mutex.wait();
    ++s->counter;
    s->mutex.post();
  }
  s->pids[slot] = getpid();
  bip::named_semaphore done(bip::open_only, sem_name);
  done.post();
}

int child_main(const char* seg_name, const char* sem_name) {
  try {
    work(seg_name, sem_name, 2);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "exec'ed child: %s\n", e.what());
    return 1;
  }
}
}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "child") == 0) return child_main(argv[2], argv[3]);
  std::string seg_name = "lambshm_boost_seg_" + std::to_string(getpid());
  std::string sem_name = "lambshm_boost_sem_" + std::to_string(getpid());
  int rc = 1;
  try {
    bip::managed_shared_memory seg(bip::create_only, seg_name.c_str(), 65536);
    Shared* s = seg.construct<Shared>("shared")();
    bip::named_semaphore done(bip::create_only, sem_name.c_str(), 0);
    pid_t forked = fork();
    if (forked == 0) {
      try {
        work(seg_name.c_str(), sem_name.c_str(), 1);
        _exit(0);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "forked child: %s\n", e.what());
        _exit(1);
      }
    }
    pid_t execed = fork();
    if (execed == 0) {
      execl("/proc/self/exe", argv[0], "child", seg_name.c_str(), sem_name.c_str(), (char*)nullptr);
      _exit(127);
    }
    for (int i = 0; i < kRounds; ++i) {
      s->mutex.wait();
      ++s->counter;
      s->mutex.post();
    }
    s->pids[0] = getpid();
    int status_f = 0, status_e = 0;
    waitpid(forked, &status_f, 0);
    waitpid(execed, &status_e, 0);
    if (status_f != 0 || status_e != 0) throw std::runtime_error("a child failed");
    // Both posted; a third wait must time out: exactly two posts.
    done.wait();
    done.wait();
    if (done.try_wait()) throw std::runtime_error("named semaphore posted more than twice");
    bool pids_ok = s->pids[1] == forked && s->pids[2] == execed && forked != execed;
    if (s->counter != 3L * kRounds || !pids_ok) {
      std::printf("FAIL boost: counter %ld (want %ld), child PIDs %d %d\n", s->counter,
                  3L * kRounds, (int)s->pids[1], (int)s->pids[2]);
    } else {
      std::printf("ok boost: managed_shared_memory, interprocess_semaphore and named_semaphore "
                  "across fork and exec, counter %ld, 3 PIDs\n", s->counter);
      rc = 0;
    }
  } catch (const std::exception& e) {
    std::printf("FAIL boost: %s\n", e.what());
  }
  bip::shared_memory_object::remove(seg_name.c_str());
  bip::named_semaphore::remove(sem_name.c_str());
  return rc;
}
