/* The kernels of sem_kernels.c, named_kernels.c and thread_kernels.c as one list. */
#include <string.h>

#include "bench.h"

extern const struct bench bench_sem_table[];
extern const int bench_sem_count;
extern const struct bench bench_named_table[];
extern const int bench_named_count;
extern const struct bench bench_thread_table[];
extern const int bench_thread_count;

int bench_count(void) { return bench_sem_count + bench_named_count + bench_thread_count; }

const struct bench* bench_at(int index) {
  if (index < 0 || index >= bench_count()) return NULL;
  if (index < bench_sem_count) return &bench_sem_table[index];
  index -= bench_sem_count;
  if (index < bench_named_count) return &bench_named_table[index];
  return &bench_thread_table[index - bench_named_count];
}

const struct bench* bench_find(const char* name) {
  for (int i = 0; i < bench_count(); ++i)
    if (strcmp(bench_at(i)->name, name) == 0) return bench_at(i);
  return NULL;
}
