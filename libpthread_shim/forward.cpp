// Every libpthread name@VERSION the shim does not implement is a one-jump
// trampoline to the stock library's definition of the same name@VERSION.
// Why the shim defines them at all (an ld.so before 2.30 looks a versioned
// name up only in the object loaded as libpthread.so.0): docs/design.md,
// "How the libpthread shim works".  The list is generated from real
// libraries' symbol tables (abi/libpthread_shim.exports, `forward`);
// libpthread exports no data objects, which a trampoline could not stand
// for (abitool refuses one).
//
// Each trampoline jumps through a read-only slot that ld.so fills when it
// relocates the shim: the slot is the address of a local IFUNC, an
// IRELATIVE relocation, applied after the shim's other relocations (the
// resolver reads _r_debug through the GOT).  The exported names are not
// IFUNCs themselves: libc, libm, libdl, libgcc_s and libstdc++ refer to
// some of them and may be relocated before the shim, and ld.so would call
// an unrelocated object's resolver and print "Relink ... for IFUNC symbol".
// Constructors run only after every object is relocated, so no call can
// reach an empty slot.
#include "pthread_forwards.h"  // generated: LAMBSHM_FORWARDS(X)
#include "stock_symbol.h"
#include "symver.h"

using Function = void (*)();

#if defined(__x86_64__)
#define LAMBSHM_JUMP_THROUGH(slot) "jmp *" slot "(%rip)\n"
#elif defined(__aarch64__)
// x16 is the intra-procedure-call register a PLT entry uses too.
#define LAMBSHM_JUMP_THROUGH(slot) \
  "adrp x16, " slot "\nldr x16, [x16, :lo12:" slot "]\nbr x16\n"
#endif

// A name@VERSION the running stock library lacks (a 2.28 name on 2.26)
// gets a null slot; nothing built for that glibc can call it.
#define LAMBSHM_FORWARD(name, tag, version, at)                                            \
  extern "C" [[gnu::cold]] Function lambshm_resolve_##name##_##tag() {                      \
    return reinterpret_cast<Function>(lambshm::shim::stock_symbol(#name, version));        \
  }                                                                                        \
  extern "C" __attribute__((ifunc("lambshm_resolve_" #name "_" #tag)))                     \
  void lambshm_target_##name##_##tag();                                                    \
  extern "C" __attribute__((used))                                                         \
  Function const lambshm_slot_##name##_##tag = &lambshm_target_##name##_##tag;             \
  __asm__(".text\n.globl lambshm_forward_" #name "_" #tag "\n"                             \
          ".type lambshm_forward_" #name "_" #tag ",%function\n"                           \
          ".p2align 4\n"                                                                   \
          "lambshm_forward_" #name "_" #tag ":\n"                                          \
          LAMBSHM_JUMP_THROUGH("lambshm_slot_" #name "_" #tag)                             \
          ".size lambshm_forward_" #name "_" #tag ",.-lambshm_forward_" #name "_" #tag "\n"); \
  LAMBSHM_SYMVER(lambshm_forward_##name##_##tag, #name at version);

LAMBSHM_FORWARDS(LAMBSHM_FORWARD)
