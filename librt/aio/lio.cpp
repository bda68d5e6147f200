// lio_listio: glibc's behaviour, both ABIs.
//
// Each non-null entry whose opcode is not LIO_NOP is submitted like
// aio_read/aio_write (an opcode that is neither fails asynchronously with
// EINVAL, as in glibc).  The group is counted from one while submitting, so a
// request that completes before the others are queued cannot end it early.
//
// LIO_WAIT sleeps (not a cancellation point, as in glibc) until every
// submitted request has finished, and returns -1/EIO if one failed; a signal
// handler that interrupts the sleep (without SA_RESTART) ends it with EINTR.
// LIO_NOWAIT delivers `sig` when the last one finishes (at once if none was
// submitted).  When some entry could not be submitted, the result is -1 with
// that entry's errno (the last such entry), as glibc sets it.
//
// GLIBC_2.2.5 (glibc 2.1 to 2.3) issued only the list's notification: the old
// entry point sets each entry's aio_sigevent.sigev_notify to SIGEV_NONE
// before submitting it, exactly as glibc's compat symbol does.
#include <stdlib.h>

#include <cerrno>
#include <new>

#include "aio_internal.h"
#include "futex.h"
#include "notify.h"

namespace lambshm::aio {

void deliver_group(Group* group) {
  notify::deliver(group->sev);
  free(group);
}

int listio(int mode, struct aiocb* const list[], int nent, struct sigevent* sig,
           bool individual_events) {
  if (mode != LIO_WAIT && mode != LIO_NOWAIT) return -EINVAL;
  if (nent < 0 || (nent > 0 && list == nullptr)) return -EINVAL;

  Group local{{1}, {false}, {0}, false, {}};  // LIO_WAIT's: lives until every request has finished
  Group* group = nullptr;
  if (mode == LIO_WAIT) {
    group = &local;
  } else if (sig != nullptr && sig->sigev_notify != SIGEV_NONE) {
    // Allocated before anything is submitted: failing now leaves nothing behind.
    void* memory = malloc(sizeof(Group));
    if (memory == nullptr) return -EAGAIN;
    group = new (memory) Group{{1}, {false}, {0}, true, *sig};
  }

  int total = 0;
  int last_error = 0;
  for (int i = 0; i < nent; ++i) {
    struct aiocb* cb = list[i];
    if (cb == nullptr || cb->aio_lio_opcode == LIO_NOP) continue;
    if (!individual_events) cb->aio_sigevent.sigev_notify = SIGEV_NONE;
    if (int r = submit(cb, cb->aio_lio_opcode, group); r < 0)
      last_error = -r;
    else
      ++total;
  }
  bool all_done = group != nullptr && release_submission(group);

  if (mode == LIO_WAIT) {
    if (total == 0) return last_error != 0 ? -last_error : 0;
    if (!all_done) {
      uint32_t* word = reinterpret_cast<uint32_t*>(&group->finished);
      bool interruptible = true;
      while (group->finished.load(std::memory_order_acquire) == 0) {
        futex::WaitResult w = futex::wait(word, 0, nullptr, CLOCK_MONOTONIC, /*shared=*/false);
        if ((w == futex::WaitResult::kInterrupted || w == futex::WaitResult::kFailed) &&
            interruptible) {
          // The requests go on and must forget this frame; unless the last
          // one is already finishing, which takes a moment, not a request.
          if (detach(group)) return w == futex::WaitResult::kInterrupted ? -EINTR : -ENOSYS;
          interruptible = false;
        }
      }
    }
    return last_error != 0 || group->failed.load(std::memory_order_relaxed) ? -EIO : 0;
  }
  if (all_done) deliver_group(group);
  return last_error != 0 ? -last_error : 0;
}

}  // namespace lambshm::aio
