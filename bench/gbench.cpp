// Google Benchmark over the same kernels as harness.c, for the
// implementations this machine can link C++ against (lambshm and the host's
// glibc).  Each kernel measures its own operations (setup, fork and exit
// excluded) and Google Benchmark takes that as manual time: one benchmark
// iteration is one operation, and a run is one kernel call with n =
// max_iterations.  Setups are kept while consecutive benchmarks share them,
// as harness.c does, so opening 60,000 semaphores is paid once, not once per
// calibration step.
#include <benchmark/benchmark.h>

#include <string>

#include "bench.h"

namespace {

struct Cached {
  const bench* owner = nullptr;
  void* state = nullptr;
  std::string error;
};
Cached g_cached;

void* state_for(const bench* b, const char** why) {
  Cached& c = g_cached;
  if (c.owner != nullptr && c.owner->setup == b->setup && c.owner->param == b->param) {
    if (c.state == nullptr) *why = c.error.c_str();
    return c.state;
  }
  if (c.state != nullptr) c.owner->teardown(c.state);
  c = Cached{b, b->setup(b->param, why), ""};
  if (c.state == nullptr) c.error = *why != nullptr ? *why : "setup failed";
  return c.state;
}

void run(benchmark::State& st, const bench* b) {
  const char* why = nullptr;
  void* state = state_for(b, &why);
  if (state == nullptr) {
    st.SkipWithError(why);
    return;
  }
  while (st.KeepRunningBatch(st.max_iterations)) {
    double seconds = b->run(state, (long)st.max_iterations, &why);
    if (seconds < 0) {
      st.SkipWithError(why != nullptr ? why : "failed");
      return;
    }
    st.SetIterationTime(seconds);
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 0; i < bench_count(); ++i) {
    const bench* b = bench_at(i);
    benchmark::RegisterBenchmark(b->name, run, b)->UseManualTime();
  }
  benchmark::AddCustomContext("implementation", BENCH_IMPL);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (g_cached.state != nullptr) g_cached.owner->teardown(g_cached.state);
  return 0;
}
