// The message a shim function hands Rust for a C++ exception it caught: a `c10::Error`'s without
// its backtrace, any other exception's `what()`, as a `strdup`ed string (`focal_free_string`
// frees it). Shared by the shim's files.
#pragma once

#include <c10/util/Exception.h>

#include <cstring>
#include <exception>

namespace focal {

inline char* error_message(const std::exception& e) {
  const char* what = e.what();
  if (auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    what = c10_error->what_without_backtrace();
  }
  return strdup(what);
}

}  // namespace focal
