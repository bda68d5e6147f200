/* Binds this translation unit's aio calls to the versions lambshm's librt.so.1
 * defines, read from the header abi/abitool.py generates for it.  Without
 * this, anything compiled on glibc 2.34 or later binds to libc.so.6's
 * GLIBC_2.34 versions and never reaches our librt.  Compile with
 * -U_FILE_OFFSET_BITS: with it, <aio.h> renames every call to its *64 twin.
 * Include before any use; only in files that mean to call lambshm. */
#pragma once

#include <aio.h>

#include "librt_versions.h"
#include "symver.h"

#ifdef _FILE_OFFSET_BITS
#error "compile aio tests with -U_FILE_OFFSET_BITS"
#endif

#define LAMBSHM_AIO_BIND(name) LAMBSHM_SYMVER(name, #name "@" LAMBSHM_VERSION_##name)
LAMBSHM_AIO_BIND(aio_read);
LAMBSHM_AIO_BIND(aio_read64);
LAMBSHM_AIO_BIND(aio_write);
LAMBSHM_AIO_BIND(aio_write64);
LAMBSHM_AIO_BIND(aio_fsync);
LAMBSHM_AIO_BIND(aio_fsync64);
LAMBSHM_AIO_BIND(aio_error);
LAMBSHM_AIO_BIND(aio_error64);
LAMBSHM_AIO_BIND(aio_return);
LAMBSHM_AIO_BIND(aio_return64);
LAMBSHM_AIO_BIND(aio_suspend);
LAMBSHM_AIO_BIND(aio_suspend64);
LAMBSHM_AIO_BIND(aio_cancel);
LAMBSHM_AIO_BIND(aio_cancel64);
LAMBSHM_AIO_BIND(aio_init);
LAMBSHM_AIO_BIND(lio_listio);
LAMBSHM_AIO_BIND(lio_listio64);
#undef LAMBSHM_AIO_BIND
