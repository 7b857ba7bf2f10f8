//! Builds focal's C++ shim (`csrc/autograd_function.cpp`: a libtorch custom autograd `Function`
//! that calls back into Rust, and libtorch's grad mode) against the headers of the libtorch that
//! tch links, and sets the link options of the binaries this package builds (tests, examples,
//! benches):
//!
//! * an rpath to libtorch's folder, so processes find its shared libraries without
//!   `LD_LIBRARY_PATH`;
//! * `libtorch_cuda` linked with `--no-as-needed`, so that `Device::Cuda` works where a GPU exists
//!   (the default `--as-needed` drops it, as nothing references it by symbol).
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    println!("cargo:rerun-if-changed=csrc/autograd_function.cpp");
    let lib = PathBuf::from(std::env::var_os("DEP_TCH_LIBTORCH_LIB").expect(
        "DEP_TCH_LIBTORCH_LIB is unset: torch-sys did not report libtorch's folder \
         (build through `make`, or set LIBTORCH)",
    ));
    let root = lib.parent().expect("libtorch's lib folder has a parent");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_owned());
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .file("csrc/autograd_function.cpp")
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag_if_supported("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        // libtorch's headers warn under -Wall; the shim itself is kept warning-free by review.
        .warnings(false)
        .extra_warnings(false);
    build.compile("focal_shim");

    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
        if lib.join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
