/* Link-time stand-in for a libpthread.so.0 that defines absent@GLIBC_2.30
 * (stub.map): programs linked against it need a GLIBC_2.30 symbol that no
 * real library defines, as a program built on 2.30+ that calls
 * pthread_cond_clockwait needs one that glibc 2.26's libpthread lacks. */
void lambshm_test_absent(void) {}
