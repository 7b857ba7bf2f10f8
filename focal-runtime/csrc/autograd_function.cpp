// focal's C++ shim: one `torch::autograd::Function` whose forward and backward call back into
// Rust, and libtorch's grad mode. Everything Rust calls is `extern "C"`, catches every C++
// exception and returns it as a message; the Rust callbacks catch their own panics and errors and
// return them as messages, which are raised here as `c10::Error` (so they travel through
// libtorch's autograd engine as any libtorch error does). Nothing unwinds across the boundary.
//
// Tensors cross as tch's raw tensor pointers (`at::Tensor*`): borrowed where Rust reads them, and
// created with `new` (owned by the receiver, freed with `delete` by tch's `at_free`) where they
// change hands.

#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/functions/basic_ops.h>
#include <torch/csrc/autograd/graph_task.h>

#include "error_message.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#ifdef FOCAL_KEEP_TORCH_CUDA
namespace at::cuda {
// Defined in libtorch_cuda.so (ATen/cuda/CUDAContext.h, whose CUDA headers a pip install lacks).
int warp_size();
}  // namespace at::cuda
#endif

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rust's forward: fills `outputs` (and the forward context) from `inputs`; 0 on success, else
// an error message was written through `focal_set_error`.
using ForwardFn = int32_t (*)(void* state, void* forward_ctx, const at::Tensor* const* inputs,
                              const uint8_t* needs_grad, size_t n_inputs, void* outputs,
                              void* error);
// Rust's backward: fills `grads` (one entry per input, undefined for none) from the upstream
// gradients and the saved tensors.
using BackwardFn = int32_t (*)(void* state, void* backward_ctx,
                               const at::Tensor* const* grad_outputs, size_t n_outputs,
                               const at::Tensor* const* saved, size_t n_saved, void* grads,
                               void* error);
using DropFn = void (*)(void* state);

// The Rust side of one node: its state and callbacks. Freed with the node (or at the end of
// `apply` where no node is recorded), which drops the Rust state.
struct RustState : torch::CustomClassHolder {
  void* state;
  ForwardFn forward;
  BackwardFn backward;
  DropFn drop;
  bool differentiable_backward;
  std::string name;

  RustState(void* s, ForwardFn f, BackwardFn b, DropFn d, bool diff, std::string n)
      : state(s), forward(f), backward(b), drop(d), differentiable_backward(diff),
        name(std::move(n)) {}
  RustState(const RustState&) = delete;
  RustState& operator=(const RustState&) = delete;
  ~RustState() override {
    if (state != nullptr) {
      drop(state);
    }
  }
};

// What Rust's forward may record besides its outputs.
struct ForwardCtx {
  variable_list saved;
  variable_list non_differentiable;
};

constexpr const char* kStateKey = "focal_rust_state";

std::vector<const at::Tensor*> pointers(const variable_list& list) {
  std::vector<const at::Tensor*> out;
  out.reserve(list.size());
  for (const auto& t : list) {
    out.push_back(&t);
  }
  return out;
}

}  // namespace

namespace focal {

// The one custom autograd function: autograd names its nodes after it (`focal::RustFunction`).
struct RustFunction : public torch::autograd::Function<RustFunction> {
  // `RustState*` is a non-tensor argument: `apply` counts it as one more input, whose gradient
  // `backward` returns undefined.
  static variable_list forward(AutogradContext* ctx, at::TensorList inputs, RustState* raw,
                               const uint8_t* needs_grad) {
    c10::intrusive_ptr<RustState> state =
        c10::intrusive_ptr<RustState>::unsafe_reclaim_from_nonowning(raw);
    ctx->saved_data[kStateKey] = at::IValue::make_capsule(state);
    ForwardCtx fctx;
    variable_list outputs;
    std::string error;
    std::vector<const at::Tensor*> in;
    in.reserve(inputs.size());
    for (const auto& t : inputs) {
      in.push_back(&t);
    }
    if (state->forward(state->state, &fctx, in.data(), needs_grad, in.size(), &outputs,
                       &error) != 0) {
      throw c10::Error(state->name + " forward: " + error);
    }
    if (!fctx.non_differentiable.empty()) {
      ctx->mark_non_differentiable(fctx.non_differentiable);
    }
    if (!fctx.saved.empty()) {
      ctx->save_for_backward(fctx.saved);
    }
    return outputs;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto state = ctx->saved_data.at(kStateKey).toCapsule();
    auto* rust = static_cast<RustState*>(state.get());
    const bool create_graph = at::GradMode::is_enabled();
    variable_list saved = ctx->get_saved_variables();
    variable_list grads;
    std::string error;
    {
      at::AutoGradMode mode(create_graph && rust->differentiable_backward);
      auto g = pointers(grad_outputs);
      auto s = pointers(saved);
      if (rust->backward(rust->state, ctx, g.data(), g.size(), s.data(), s.size(), &grads,
                         &error) != 0) {
        throw c10::Error(rust->name + " backward: " + error);
      }
    }
    if (create_graph && !rust->differentiable_backward) {
      // As PyTorch's `once_differentiable`: the gradients are correct, differentiating them
      // again is an error raised when (and only when) it is attempted.
      variable_list detached;
      detached.reserve(grads.size());
      for (const auto& g : grads) {
        detached.push_back(g.defined() && g.is_floating_point() ? g.detach().requires_grad_(true)
                                                                 : g);
      }
      auto error_node = std::make_shared<torch::autograd::DelayedError>(
          "focal: " + rust->name +
              " has no double backward; its gradient cannot be differentiated again "
              "(create_graph)",
          static_cast<int>(detached.size()));
      grads = (*error_node)(std::move(detached));
    }
    grads.emplace_back();  // for the `RustState*` argument
    grads.emplace_back();  // for the `needs_grad` argument
    return grads;
  }
};

}  // namespace focal

extern "C" {

// Rust: appends `*tensor` (moved out of a tensor Rust gave up; the pointer is deleted whatever
// happens) to a C++ list. `tensor` null appends an undefined tensor. 0, or 1 where the list could
// not grow.
int32_t focal_list_push(void* list, at::Tensor* tensor) {
  std::unique_ptr<at::Tensor> owned(tensor);
  try {
    auto* l = static_cast<variable_list*>(list);
    if (owned) {
      l->push_back(std::move(*owned));
    } else {
      l->emplace_back();
    }
    return 0;
  } catch (...) {
    return 1;
  }
}

// Rust: writes an error message of `len` bytes (left empty where it cannot be stored).
void focal_set_error(void* error, const char* message, size_t len) {
  try {
    static_cast<std::string*>(error)->assign(message, len);
  } catch (...) {
  }
}

// Rust, inside forward: saves a tensor for backward (in order). 0, or 1 where it could not.
int32_t focal_forward_save(void* forward_ctx, const at::Tensor* tensor) {
  try {
    static_cast<ForwardCtx*>(forward_ctx)->saved.push_back(*tensor);
    return 0;
  } catch (...) {
    return 1;
  }
}

// Rust, inside forward: marks an output (the same tensor as returned) non-differentiable. 0, or
// 1 where it could not.
int32_t focal_forward_mark_non_differentiable(void* forward_ctx, const at::Tensor* tensor) {
  try {
    static_cast<ForwardCtx*>(forward_ctx)->non_differentiable.push_back(*tensor);
    return 0;
  } catch (...) {
    return 1;
  }
}

// Rust, inside backward: whether input `index` needs a gradient in this backward pass. Returns
// 0 or 1, or -1 for an index out of range.
int32_t focal_backward_needs_input_grad(void* backward_ctx, size_t index) {
  try {
    return static_cast<AutogradContext*>(backward_ctx)->needs_input_grad(index) ? 1 : 0;
  } catch (...) {
    return -1;
  }
}

// Rust, inside backward: whether this backward pass keeps the graph (`retain_graph`), so that a
// later pass may run this node again. 1 where unknown.
int32_t focal_backward_keep_graph() {
  try {
    return torch::autograd::get_current_graph_task_keep_graph() ? 1 : 0;
  } catch (...) {
    return 1;
  }
}

// Applies the Rust function to `n_inputs` tensors. Takes ownership of `state` (dropped through
// `drop` whatever happens). On success returns 0 and has pushed the outputs, owned by the
// caller, through `push_output(sink, tensor*)`; else returns 1 and `*error_out` is an allocated
// message for `focal_free_string`.
int32_t focal_function_apply(void* state, ForwardFn forward, BackwardFn backward, DropFn drop,
                             int32_t differentiable_backward, const char* name, size_t name_len,
                             const at::Tensor* const* inputs, size_t n_inputs,
                             void (*push_output)(void* sink, at::Tensor* tensor), void* sink,
                             char** error_out) {
  c10::intrusive_ptr<RustState> holder;
  try {
    holder = c10::make_intrusive<RustState>(state, forward, backward, drop,
                                            differentiable_backward != 0,
                                            std::string(name, name_len));
  } catch (...) {
    drop(state);  // the holder that owns it could not be made
    *error_out = strdup("focal: out of memory starting a custom autograd function");
    return 1;
  }
  try {
    variable_list in;
    in.reserve(n_inputs);
    for (size_t i = 0; i < n_inputs; ++i) {
      in.push_back(*inputs[i]);
    }
    // Grad mode is off inside forward: whether an input needs a gradient is decided here, in
    // the caller's mode.
    const bool grad_mode = at::GradMode::is_enabled();
    std::vector<uint8_t> needs_grad(n_inputs, 0);
    for (size_t i = 0; i < n_inputs; ++i) {
      needs_grad[i] = grad_mode && in[i].defined() && in[i].requires_grad() ? 1 : 0;
    }
    // `forward` takes a second reference from this raw pointer; `holder` keeps the first.
    variable_list outputs =
        focal::RustFunction::apply(at::TensorList(in), holder.get(), needs_grad.data());
    for (auto& out : outputs) {
      push_output(sink, new at::Tensor(std::move(out)));
    }
    return 0;
  } catch (const std::exception& e) {
    *error_out = focal::error_message(e);
    return 1;
  } catch (...) {
    *error_out = strdup("unknown C++ exception in focal_function_apply");
    return 1;
  }
}

void focal_free_string(char* s) { free(s); }

// What kind of tensor `t` is, for the losses' up-front check (tch has no safe way to ask some of
// these; `Tensor::device()` panics on the meta device): 0 a defined dense tensor on the CPU, a
// CUDA, MPS or Vulkan device; 1 undefined; 2 sparse; 3 MKL-DNN; 4 quantized; 5 on the meta
// device; 6 nested; 7 on another device; 8 libtorch could not tell.
int32_t focal_tensor_class(const at::Tensor* t) {
  try {
    if (!t->defined()) return 1;
    if (t->is_sparse() || t->is_sparse_csr()) return 2;
    if (t->is_mkldnn()) return 3;
    if (t->is_quantized()) return 4;
    if (t->is_meta()) return 5;
    if (t->is_nested()) return 6;
    switch (t->device().type()) {
      case c10::DeviceType::CPU:
      case c10::DeviceType::CUDA:
      case c10::DeviceType::MPS:
      case c10::DeviceType::Vulkan:
        return 0;
      default:
        return 7;
    }
  } catch (...) {
    return 8;
  }
}

// Whether autograd records operations on this thread (false inside `tch::no_grad`). Every loss
// calls it, which makes it the place for the reference below.
int32_t focal_grad_mode_enabled() {
#ifdef FOCAL_KEEP_TORCH_CUDA
  // libtorch_cuda registers ATen's CUDA support when it loads, but no code references it by
  // symbol, so a link with --as-needed (rustc's default) drops it and CUDA silently turns off.
  // This reference (never called) keeps it linked in every binary that uses focal.
  static int (*volatile keep_torch_cuda)() = &at::cuda::warp_size;
  if (keep_torch_cuda == nullptr) {
    return -1;
  }
#endif
  return at::GradMode::is_enabled() ? 1 : 0;
}

}  // extern "C"
