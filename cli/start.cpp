// The program's entry point, used instead of the build machine's crt1.o.
//
// Why: glibc 2.34 changed what crt1.o does.  Its _start passes no `init`
// function to __libc_start_main and leaves running the executable's
// constructors (DT_INIT_ARRAY) to the 2.34+ library.  Bound, as we bind it,
// to glibc 2.26's __libc_start_main@GLIBC_2.2.5 and run on Amazon Linux 2,
// such a program would start with none of its constructors run: 2.26 runs
// them only through `init`.  This _start passes an `init` that runs them, and
// glibc 2.34+ calls a non-null `init` in place of walking the array itself,
// so they run exactly once on every glibc.  Destructors (DT_FINI_ARRAY) are
// run by the dynamic linker on every version, so `fini` stays null.
//
// The `startup` test in the cli suite checks this on glibc 2.31 and 2.36.

extern "C" {
int main(int, char**, char**);
int __libc_start_main(int (*main)(int, char**, char**), int argc, char** argv,
                      void (*init)(int, char**, char**), void (*fini)(), void (*rtld_fini)(),
                      void* stack_end);

// What crtbegin.o would define: an executable's handle for atexit-like
// registrations (pthread_atfork in libc_nonshared.a refers to it); 0, as
// crtbegin.o has it in an executable.
__attribute__((visibility("hidden"))) void* __dso_handle = nullptr;

// Bounds of the executable's DT_INIT_ARRAY, defined by the linker.
extern void (*const __init_array_start[])(int, char**, char**) __attribute__((visibility("hidden")));
extern void (*const __init_array_end[])(int, char**, char**) __attribute__((visibility("hidden")));

__attribute__((used)) void lambshm_run_constructors(int argc, char** argv, char** envp) {
  for (auto* f = __init_array_start; f != __init_array_end; ++f) (*f)(argc, argv, envp);
}
}

// At entry the kernel's stack holds argc, then argv[], envp[] and auxv; the
// dynamic linker passes its finaliser in rdx (x86_64) or x0 (aarch64).
#if defined(__x86_64__)
__asm__(R"(
  .text
  .globl _start
  .type _start, @function
_start:
  .cfi_startproc
  .cfi_undefined rip
  xorl %ebp, %ebp
  movq %rdx, %r9                         # rtld_fini
  popq %rsi                              # argc
  movq %rsp, %rdx                        # argv
  andq $-16, %rsp
  pushq %rax                             # keeps the stack 16-byte aligned
  pushq %rsp                             # stack_end, the 7th argument
  xorl %r8d, %r8d                        # fini
  leaq lambshm_run_constructors(%rip), %rcx   # init
  movq main@GOTPCREL(%rip), %rdi
  call *__libc_start_main@GOTPCREL(%rip)
  hlt
  .cfi_endproc
  .size _start, . - _start
)");
#elif defined(__aarch64__)
__asm__(R"(
  .text
  .globl _start
  .type _start, %function
_start:
  .cfi_startproc
  .cfi_undefined x30
  mov x29, #0
  mov x30, #0
  mov x5, x0                             // rtld_fini
  ldr x1, [sp]                           // argc
  add x2, sp, #8                         // argv
  mov x6, sp                             // stack_end
  adrp x0, :got:main
  ldr x0, [x0, #:got_lo12:main]
  adrp x3, lambshm_run_constructors      // init
  add x3, x3, :lo12:lambshm_run_constructors
  mov x4, #0                             // fini
  bl __libc_start_main
  brk #0
  .cfi_endproc
  .size _start, . - _start
)");
#else
#error "lambshm supports x86_64 and aarch64"
#endif
