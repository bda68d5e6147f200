// lio_listio and lio_listio64 (the same function on LP64), at the version
// the target's abilist gives them, and where that abilist has an older
// version too (x86_64: GLIBC_2.2.5), the old behaviour bound to it: one
// notification for the whole list, none for its entries (see lio.cpp).
//
// Every entry point here is bound to its version (LAMBSHM_SYMVER), the default
// one included: the version script lists these names in every node where
// they have a version, and ld would give an unversioned definition the oldest.
#include <aio.h>

#include "aio_internal.h"
#include "export.h"
#include "librt_versions.h"
#include "symver.h"

LAMBSHM_EXPORT int lambshm_lio_listio(int mode, struct aiocb* const list[], int nent,
                                      struct sigevent* sig) {
  return lambshm::posix_result(lambshm::aio::listio(mode, lambshm::opaque(list), nent, sig, true));
}
LAMBSHM_SYMVER(lambshm_lio_listio, "lio_listio@@" LAMBSHM_VERSION_lio_listio);

LAMBSHM_EXPORT int lambshm_lio_listio64(int mode, struct aiocb64* const list[], int nent,
                                        struct sigevent* sig) {
  return lambshm::posix_result(lambshm::aio::listio(
      mode, lambshm::opaque(reinterpret_cast<struct aiocb* const*>(list)), nent, sig,
      true));
}
LAMBSHM_SYMVER(lambshm_lio_listio64, "lio_listio64@@" LAMBSHM_VERSION_lio_listio64);

#ifdef LAMBSHM_COMPAT_lio_listio_2_2_5
LAMBSHM_EXPORT int lambshm_lio_listio_old(int mode, struct aiocb* const list[], int nent,
                                          struct sigevent* sig) {
  return lambshm::posix_result(lambshm::aio::listio(mode, lambshm::opaque(list), nent, sig, false));
}
LAMBSHM_SYMVER(lambshm_lio_listio_old, "lio_listio@" LAMBSHM_COMPAT_lio_listio_2_2_5);
#endif

#ifdef LAMBSHM_COMPAT_lio_listio64_2_2_5
LAMBSHM_EXPORT int lambshm_lio_listio64_old(int mode, struct aiocb64* const list[], int nent,
                                            struct sigevent* sig) {
  return lambshm::posix_result(lambshm::aio::listio(
      mode, lambshm::opaque(reinterpret_cast<struct aiocb* const*>(list)), nent, sig,
      false));
}
LAMBSHM_SYMVER(lambshm_lio_listio64_old, "lio_listio64@" LAMBSHM_COMPAT_lio_listio64_2_2_5);
#endif
