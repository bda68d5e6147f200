// What tests read of core/'s internal state.  No library includes this
// header; the definitions live beside the state they read.
#pragma once

#include <cstddef>

namespace lambshm::named_sem {

// Number of distinct semaphore files open in this process.
size_t open_count();

}  // namespace lambshm::named_sem
