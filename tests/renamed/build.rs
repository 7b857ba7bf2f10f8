//! Link settings for the binaries this package builds (tests, examples, benches).
//!
//! * an rpath to libtorch's folder, so processes find its shared libraries without
//!   `LD_LIBRARY_PATH`;
//! * `libtorch_cuda` linked with `--no-as-needed`, so that `Device::Cuda` works where a GPU exists
//!   (the default `--as-needed` drops it, as nothing references it by symbol).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Some(lib) = std::env::var_os("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    let lib = std::path::PathBuf::from(lib);
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
        if lib.join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
