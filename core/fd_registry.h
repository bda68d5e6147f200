// Descriptors a fork must not leak: those the store opens for the duration
// of one call (memfd_store.cpp).
//
// A descriptor is registered in a slot as it is created; the child handler
// closes every registered one.  Creation and registration happen inside a
// section that the prepare handler waits to be empty (and keeps empty until
// the fork is done), so no fork falls between the two.  The section is a few
// instructions and one system call that never blocks.

#pragma once

#include "linux_syscall.h"

namespace lambshm::fd_registry {

// Installs the fork handlers (once; cheap after).
void ensure_fork_handler();

// A stretch during which no fork happens: descriptors created and registered
// inside one are never seen half-registered by a child.
class Section {
 public:
  Section();
  ~Section();
  Section(const Section&) = delete;
  Section& operator=(const Section&) = delete;
};

// Runs `hook` in every forked child, after the registered descriptors are
// closed (one hook: the memfd pool's, memfd_pool.cpp).  It runs with no
// Section held anywhere in the child, and must not block.
void on_fork_child(void (*hook)());

// This process's pid, without a system call once the fork handlers are in
// place (a forked child asks again).  A child made by a raw clone(), which
// runs no fork handler, would see its parent's: such children run no
// library code before they exec.
pid_t self_pid();

// Registers `fd` (closed in a forked child): its slot, or -1 (not tracked).
int track(int fd);
// Unregisters slot `slot` (-1: none).
void forget(int slot);

// A descriptor owned for the duration of one call, closed in a forked child.
// `make` creates it (returns it or -errno) inside the section.
class InFlight {
 public:
  template <typename Make>
  explicit InFlight(Make make) {
    Section section;
    fd_ = make();
    slot_ = track(fd_);
  }
  // Adopts `fd`, created by the caller inside its own Section.
  struct Adopt {};
  InFlight(Adopt, int fd) : fd_(fd), slot_(track(fd)) {}
  InFlight() : fd_(-1) {}
  InFlight(InFlight&& other) noexcept : fd_(other.fd_), slot_(other.slot_) {
    other.fd_ = -1;
    other.slot_ = -1;
  }
  InFlight& operator=(InFlight&& other) noexcept {
    reset();
    fd_ = other.fd_;
    slot_ = other.slot_;
    other.fd_ = -1;
    other.slot_ = -1;
    return *this;
  }
  ~InFlight() { reset(); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Hands the descriptor to the caller (no longer closed by a fork handler).
  int release() {
    untrack();
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset() {
    if (fd_ < 0) return;
    // Closed and forgotten with no fork in between: neither a descriptor
    // leaked into a child nor a reused number closed there.
    Section section;
    sys::close(fd_);
    untrack();
    fd_ = -1;
  }

 private:
  void untrack() {
    forget(slot_);
    slot_ = -1;
  }
  int fd_;
  int slot_ = -1;
};

}  // namespace lambshm::fd_registry
