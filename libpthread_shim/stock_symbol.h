// Finding a definition in the stock libpthread without the dynamic linker's
// help: the forwarders' IFUNC resolvers run while objects are being
// relocated, where dlvsym is not safe to call (and libdl may not be loaded).
#pragma once

namespace lambshm::shim {

// The stock library's definition of name@version, or null.  Looks in the
// stock libpthread.so.0 (not this shim) first, then in libc.so.6, which
// keeps every pthread function from glibc 2.34 on.  Reads the objects' own
// symbol, hash and version tables; calls nothing, not even libc, and takes
// no lock.  Safe from an IFUNC resolver, in any thread.
void* stock_symbol(const char* name, const char* version) noexcept;

}  // namespace lambshm::shim
