// focal's use of libtorch's intra-op thread pool: the fused kernels' work runs on the threads that
// libtorch's own parallel operations use (`at::parallel_for`; OpenMP in the PyPI build), not on
// threads of focal's own. libtorch's idle OpenMP workers spin for a while after each parallel op;
// threads of our own then competed with them for the cores (on 2 cores, 2-6 ms, 15-25%, more per
// loss call at 2 x 4 x 128^3 in `make bench`), where libtorch's spinning workers take our work at
// once.
//
// Rust calls `focal_parallel_run` only; it catches every C++ exception. `member` is Rust's
// `extern "C"` function, which catches every panic itself: nothing unwinds across the boundary
// either way.

#include <ATen/Parallel.h>

#include "error_message.h"

#include <cstdint>
#include <cstring>
#include <exception>

extern "C" {

// Runs `member(ctx, i)` for each `i` in `0..members` over libtorch's intra-op threads (the calling
// thread takes `i = 0`; inside another parallel region, or with one intra-op thread, all run on the
// calling thread, one after another). Returns 0, or 1 with `*error_out` a `strdup`ed message
// (`focal_free_string` frees it; null where `strdup` failed).
int focal_parallel_run(int64_t members, void (*member)(void*, int64_t), void* ctx,
                       char** error_out) {
  try {
    at::parallel_for(0, members, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        member(ctx, i);
      }
    });
    return 0;
  } catch (const std::exception& e) {
    *error_out = focal::error_message(e);
  } catch (...) {
    *error_out = strdup("focal_parallel_run: an unknown C++ exception");
  }
  return 1;
}

}  // extern "C"
