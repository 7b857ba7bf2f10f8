//! Builds focal's C++ shim (`csrc/autograd_function.cpp`: a libtorch custom autograd `Function`
//! that calls back into Rust, and libtorch's grad mode; `csrc/recycled_buffers.cpp`: the fused
//! kernels' recycled output buffers; `csrc/parallel.cpp`: the kernels' work on libtorch's intra-op
//! threads, `at::parallel_for`, compiled with OpenMP as libtorch is) against the headers of the
//! libtorch that tch links, and sets the link options:
//!
//! * `libtorch_cuda` kept in every binary that uses focal: tch links it, but nothing references
//!   it by symbol, so the default `--as-needed` drops it and `Device::Cuda` is silently
//!   unavailable. Where the install has it, the shim is compiled with `FOCAL_KEEP_TORCH_CUDA`
//!   and references one of its functions, which keeps it linked in a user's crate too, with no
//!   link flags of its own (a link argument from here would reach only this package's binaries);
//! * libtorch's own OpenMP runtime (`libgomp.so.1` in its folder, by that exact name: the
//!   shim's parallel region calls it, and a second OpenMP runtime would bring a second pool);
//! * an rpath to libtorch's folder for this package's own binaries (`build/libtorch.rs`).
#[path = "../build/libtorch.rs"]
mod libtorch;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    println!("cargo:rerun-if-changed=csrc/autograd_function.cpp");
    println!("cargo:rerun-if-changed=csrc/recycled_buffers.cpp");
    println!("cargo:rerun-if-changed=csrc/parallel.cpp");
    println!("cargo:rerun-if-changed=csrc/error_message.h");
    let lib = libtorch::libtorch_lib().expect(
        "DEP_TCH_LIBTORCH_LIB is unset: torch-sys did not report libtorch's folder \
         (build through `make`, or set LIBTORCH)",
    );
    let root = lib.parent().expect("libtorch's lib folder has a parent");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_owned());
    let mut build = cc::Build::new();
    if lib.join("libtorch_cuda.so").exists() {
        build.define("FOCAL_KEEP_TORCH_CUDA", None);
    }
    build
        .cpp(true)
        .file("csrc/autograd_function.cpp")
        .file("csrc/recycled_buffers.cpp")
        .file("csrc/parallel.cpp")
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag_if_supported("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        // `at::parallel_for`'s OpenMP region is compiled from libtorch's headers (`_OPENMP`).
        .flag("-fopenmp")
        // libtorch's headers warn under -Wall; the shim itself is kept warning-free by review.
        .warnings(false)
        .extra_warnings(false)
        .compile("focal_shim");
    openmp(&lib);
    libtorch::rpath(&lib);
}

/// Links libtorch's own OpenMP runtime, by the exact name of the file in its folder
/// (`libgomp.so.1` in the PyPI build, `libgomp-<hash>.so.1` in the C++ downloads), so that the
/// shim's parallel region and libtorch's share one runtime and its one pool of threads. Reaches
/// every crate that depends on focal (a `rustc-link-lib`, unlike a link argument).
fn openmp(lib: &std::path::Path) {
    let found = std::fs::read_dir(lib).ok().and_then(|entries| {
        entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.starts_with("libgomp") && name.ends_with(".so.1"))
            .min()
    });
    match found {
        Some(name) => {
            println!("cargo:rustc-link-search=native={}", lib.display());
            println!("cargo:rustc-link-lib=dylib:+verbatim={name}");
        }
        None => panic!(
            "no libgomp*.so.1 in {}: focal runs its kernels on libtorch's OpenMP threads",
            lib.display()
        ),
    }
}
