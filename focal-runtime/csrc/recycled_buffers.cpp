// focal's recycled output buffers: CPU tensors for the fused kernels' outputs (the gradient, the
// per-position losses) whose memory, once libtorch frees the tensor, is kept for the next call of
// the same size instead of going back to the C allocator.
//
// A buffer of tens of megabytes is above glibc's mmap threshold (at most 32 MiB), so every fresh
// one is a new mapping whose every page faults on first touch: at 2 x 4 x 128^3 float32 (64 MiB)
// that is 16,384 faults, which took longer than the kernel's whole pass on the development VM. A
// training loop frees the previous step's gradient before the next loss call, so one kept buffer
// per size turns every call after the first into a write to memory already mapped.
//
// Everything Rust calls is `extern "C"` and catches every C++ exception. The deleter libtorch
// calls (on any thread, possibly after `main` returns) takes a lock and never throws.

#include <ATen/core/Tensor.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include "error_message.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <new>

namespace {

// One allocation from libtorch's CPU allocator functions (`alloc_cpu`: aligned, with transparent
// huge pages where `THP_MEM_ALLOC_ENABLE` asks for them).
struct Buffer {
  void* data;
  size_t bytes;
};

// The kept buffers, the most recently freed last; at most `max_buffers` of them and `max_bytes`
// in all (the oldest go first).
struct Cache {
  std::mutex mutex;
  std::deque<Buffer*> kept;
  size_t kept_bytes = 0;
  size_t max_bytes = size_t{1} << 30;
  size_t max_buffers = 4;
};

// Never destroyed: a tensor freed during or after static destruction still finds it.
Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

void release(Buffer* b) {
  c10::free_cpu(b->data);
  delete b;
}

// Drops the oldest kept buffers until the cache is within its limits; returns them (unlocked
// work for the caller).
std::deque<Buffer*> trim_locked(Cache& c) {
  std::deque<Buffer*> dropped;
  while (!c.kept.empty() && (c.kept_bytes > c.max_bytes || c.kept.size() > c.max_buffers)) {
    Buffer* oldest = c.kept.front();
    c.kept.pop_front();
    c.kept_bytes -= oldest->bytes;
    dropped.push_back(oldest);
  }
  return dropped;
}

// libtorch's deleter for a recycled tensor's memory: keeps the buffer (or frees it, where the
// cache is full or the lock cannot be taken).
void give_back(void* ctx) {
  auto* b = static_cast<Buffer*>(ctx);
  std::deque<Buffer*> dropped;
  try {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    if (b->bytes <= c.max_bytes && c.max_buffers > 0) {
      c.kept.push_back(b);
      c.kept_bytes += b->bytes;
      b = nullptr;
      dropped = trim_locked(c);
    }
  } catch (...) {
  }
  if (b != nullptr) {
    release(b);
  }
  for (Buffer* d : dropped) {
    release(d);
  }
}

// A kept buffer of exactly `bytes`, or a new one.
Buffer* take(size_t bytes) {
  {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    for (auto it = c.kept.rbegin(); it != c.kept.rend(); ++it) {
      if ((*it)->bytes == bytes) {
        Buffer* b = *it;
        c.kept.erase(std::next(it).base());
        c.kept_bytes -= bytes;
        return b;
      }
    }
  }
  void* data = c10::alloc_cpu(bytes);
  try {
    return new Buffer{data, bytes};
  } catch (...) {
    c10::free_cpu(data);
    throw;
  }
}

}  // namespace

extern "C" {

// Rust: an uninitialised contiguous CPU tensor of the `ndim` sizes, float32 (`dtype` 0) or
// float64 (1), whose memory is a recycled buffer. Its storage is resizable (a resize moves it to
// libtorch's allocator, and this buffer back to the cache). Returns 0 and a new `at::Tensor*`
// (owned by the caller) through `*out`, or 1 and an allocated message (`focal_free_string`)
// through `*error_out`.
int32_t focal_recycled_empty(const int64_t* sizes, size_t ndim, int32_t dtype, at::Tensor** out,
                             char** error_out) {
  try {
    c10::ScalarType type;
    switch (dtype) {
      case 0:
        type = c10::ScalarType::Float;
        break;
      case 1:
        type = c10::ScalarType::Double;
        break;
      default:
        *error_out = strdup("focal_recycled_empty: dtype is neither float32 nor float64");
        return 1;
    }
    size_t numel = 1;
    for (size_t i = 0; i < ndim; ++i) {
      if (sizes[i] < 0) {
        *error_out = strdup("focal_recycled_empty: a negative size");
        return 1;
      }
      if (__builtin_mul_overflow(numel, static_cast<size_t>(sizes[i]), &numel)) {
        *error_out = strdup("focal_recycled_empty: the size overflows");
        return 1;
      }
    }
    size_t bytes = 0;
    if (__builtin_mul_overflow(numel, c10::elementSize(type), &bytes)) {
      *error_out = strdup("focal_recycled_empty: the size overflows");
      return 1;
    }
    Buffer* b = take(bytes);
    c10::DataPtr data(b->data, b, &give_back, c10::Device(c10::DeviceType::CPU));
    c10::Storage storage(c10::Storage::use_byte_size_t(), bytes, std::move(data),
                         c10::GetCPUAllocator(), /*resizable=*/true);
    at::Tensor t = at::detail::make_tensor<c10::TensorImpl>(
        std::move(storage), c10::DispatchKeySet(c10::DispatchKey::CPU),
        c10::scalarTypeToTypeMeta(type));
    t.unsafeGetTensorImpl()->set_sizes_contiguous(c10::IntArrayRef(sizes, ndim));
    *out = new at::Tensor(std::move(t));
    return 0;
  } catch (const std::exception& e) {
    *error_out = focal::error_message(e);
    return 1;
  } catch (...) {
    *error_out = strdup("unknown C++ exception in focal_recycled_empty");
    return 1;
  }
}

// Rust: frees every kept buffer now. Returns the bytes freed.
size_t focal_recycled_release() {
  std::deque<Buffer*> dropped;
  size_t freed = 0;
  try {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    dropped.swap(c.kept);
    freed = c.kept_bytes;
    c.kept_bytes = 0;
  } catch (...) {
  }
  for (Buffer* d : dropped) {
    release(d);
  }
  return freed;
}

// Rust: keeps at most `max_buffers` buffers and `max_bytes` in all from now on (0 keeps none),
// freeing the oldest kept ones beyond that now. 0, or 1 where the lock could not be taken.
int32_t focal_recycled_set_limits(size_t max_buffers, size_t max_bytes) {
  std::deque<Buffer*> dropped;
  try {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    c.max_buffers = max_buffers;
    c.max_bytes = max_bytes;
    dropped = trim_locked(c);
  } catch (...) {
    return 1;
  }
  for (Buffer* d : dropped) {
    release(d);
  }
  return 0;
}

// Rust: the bytes the kept buffers hold, and how many there are. 0, or 1 where the lock could
// not be taken.
int32_t focal_recycled_kept(size_t* bytes, size_t* count) {
  try {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    *bytes = c.kept_bytes;
    *count = c.kept.size();
    return 0;
  } catch (...) {
    return 1;
  }
}

}  // extern "C"
