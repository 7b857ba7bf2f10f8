//! The link settings every package of this workspace gives its own binaries (tests, examples,
//! benches), shared by their build scripts (`#[path]`-included): an rpath to libtorch's folder,
//! so that processes find its shared libraries without `LD_LIBRARY_PATH`. (Keeping
//! `libtorch_cuda` linked is `focal-runtime`'s job: its C++ shim references it, which reaches
//! every crate depending on focal. An rpath cannot reach them, so a user's binary finds libtorch
//! through `LD_LIBRARY_PATH` or an rpath of its own: see the README.)

/// libtorch's `lib` folder, as torch-sys reports it (`DEP_TCH_LIBTORCH_LIB`, seen by the build
/// script of a package that depends on torch-sys directly).
pub fn libtorch_lib() -> Option<std::path::PathBuf> {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    std::env::var_os("DEP_TCH_LIBTORCH_LIB").map(std::path::PathBuf::from)
}

/// Prints the rpath to `lib` for this package's binaries (on Linux).
pub fn rpath(lib: &std::path::Path) {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
}
