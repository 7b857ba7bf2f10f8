//! The rpath to libtorch for this package's binaries (`build/libtorch.rs`).
#[path = "build/libtorch.rs"]
mod libtorch;

fn main() {
    if let Some(lib) = libtorch::libtorch_lib() {
        libtorch::rpath(&lib);
    }
}
