// The registry of descriptors a fork must not leak (fd_registry.h).
#include "fd_registry.h"

#include <pthread.h>

#include <atomic>

namespace lambshm::fd_registry {

namespace {

constexpr int kSlots = 64;
std::atomic<int> g_inflight[kSlots];
std::atomic<int> g_handlers{0};  // 0 none, 1 registering, 2 registered
std::atomic<int> g_in_section{0};
std::atomic<bool> g_forking{false};
std::atomic<pid_t> g_pid{0};  // 0: not known (at start, and in a forked child)
std::atomic<void (*)()> g_child_hook{nullptr};

void yield() { sys::call(SYS_sched_yield); }

void fork_prepare() {
  g_forking.store(true, std::memory_order_seq_cst);
  while (g_in_section.load(std::memory_order_seq_cst) != 0) yield();
}

void fork_parent() { g_forking.store(false, std::memory_order_seq_cst); }

void fork_child() {
  for (auto& slot : g_inflight) {
    int fd = slot.exchange(-1, std::memory_order_relaxed);
    if (fd >= 0) sys::close(fd);
  }
  g_in_section.store(0, std::memory_order_relaxed);
  g_pid.store(0, std::memory_order_relaxed);
  if (void (*hook)() = g_child_hook.load(std::memory_order_relaxed)) hook();
  g_forking.store(false, std::memory_order_seq_cst);
}

}  // namespace

void ensure_fork_handler() {
  if (g_handlers.load(std::memory_order_acquire) == 2) return;
  int expected = 0;
  if (g_handlers.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    for (auto& slot : g_inflight) slot.store(-1, std::memory_order_relaxed);
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    g_handlers.store(2, std::memory_order_release);
  }
  // Another thread is registering (or was, in the parent of this child):
  // proceed untracked rather than wait on a thread that may not exist.
}

Section::Section() {
  for (;;) {
    while (g_forking.load(std::memory_order_seq_cst)) yield();
    g_in_section.fetch_add(1, std::memory_order_seq_cst);
    if (!g_forking.load(std::memory_order_seq_cst)) return;
    g_in_section.fetch_sub(1, std::memory_order_seq_cst);
  }
}
Section::~Section() { g_in_section.fetch_sub(1, std::memory_order_seq_cst); }

void on_fork_child(void (*hook)()) { g_child_hook.store(hook, std::memory_order_relaxed); }

pid_t self_pid() {
  pid_t pid = g_pid.load(std::memory_order_relaxed);
  if (pid != 0 && g_handlers.load(std::memory_order_acquire) == 2) return pid;
  pid = sys::getpid();
  // Kept only once the child handler that forgets it is in place.
  if (g_handlers.load(std::memory_order_acquire) == 2) g_pid.store(pid, std::memory_order_relaxed);
  return pid;
}

int track(int fd) {
  if (fd < 0 || g_handlers.load(std::memory_order_acquire) != 2) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int empty = -1;
    if (g_inflight[i].compare_exchange_strong(empty, fd, std::memory_order_relaxed)) return i;
  }
  return -1;  // more than kSlots calls at once: the rest go untracked
}

void forget(int slot) {
  if (slot >= 0) g_inflight[slot].store(-1, std::memory_order_relaxed);
}

}  // namespace lambshm::fd_registry
