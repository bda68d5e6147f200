// umask, so that the library knows the umask without asking the kernel on
// every create: a memfd does not apply it, a create does (core/umask.h).
#include <sys/stat.h>

#include "interpose.h"
#include "umask.h"

extern "C" __attribute__((visibility("hidden"))) const bool lambshm_umask_interposed = true;

extern "C" mode_t lambshm_preload_umask(mode_t mask) noexcept { return lambshm::set_umask(mask); }
LAMBSHM_INTERPOSE(umask)
