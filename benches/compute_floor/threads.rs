//! Splitting a loop's positions over threads, and the copy the floors are measured against.

use std::sync::Mutex;

/// A pointer the threads share, each writing its own positions.
///
/// The aliasing assumption of every use: the pointer comes from a `&mut [f32]` that the caller
/// borrows for the whole [`split`] call (so it outlives every part), and each part reads and
/// writes only the positions of its own range through it: no element is written by one part
/// while another reads or writes it.
#[derive(Clone, Copy)]
pub struct Shared(*mut f32);

impl Shared {
    /// Shares `out`'s elements; the caller keeps `out` borrowed while the pointer is in use.
    pub fn new(out: &mut [f32]) -> Self {
        Self(out.as_mut_ptr())
    }

    /// The pointer (a method, so that closures capture the whole `Shared`, which is `Sync`).
    pub fn ptr(self) -> *mut f32 {
        self.0
    }
}

// SAFETY: the pointer is only dereferenced inside a `split` call (which returns once every part
// has) while the `&mut [f32]` it came from is borrowed, and each part touches a disjoint set of positions through it (the
// aliasing assumption above, which every caller's SAFETY comment states for its loop).
unsafe impl Send for Shared {}
// SAFETY: as for `Send`: shared references to `Shared` only copy the pointer.
unsafe impl Sync for Shared {}

/// How many parts each thread's share of a loop is cut into: the threads take parts one at a
/// time, as the kernels' do, so that a thread slowed by another process takes fewer.
const PARTS_PER_THREAD: usize = 16;

/// `part(s0, s1)` for disjoint ranges covering `0..len`, their bounds multiples of `granule`
/// (when `len` is one; the loops pass their lane count) or `len`, run on this thread and up to
/// `threads - 1` of libtorch's intra-op threads (the threads the fused kernels run on:
/// `focal::__private::run_on_intra_op_threads`), each taking the next range left. The ranges'
/// results in order.
pub fn split<T: Send>(
    len: usize,
    granule: usize,
    threads: usize,
    part: impl Fn(usize, usize) -> T + Sync,
) -> Vec<T> {
    assert!(granule > 0);
    let parts = if threads > 1 {
        threads * PARTS_PER_THREAD
    } else {
        1
    };
    let per = (len / granule).div_ceil(parts).max(1) * granule;
    let results: Vec<Mutex<Option<T>>> = (0..parts).map(|_| Mutex::new(None)).collect();
    let ran = focal::__private::run_on_intra_op_threads(parts, threads, &|p| {
        let (s0, s1) = ((p * per).min(len), ((p + 1) * per).min(len));
        let value = part(s0, s1);
        *results[p].lock().expect("one writer per part") = Some(value);
    });
    assert!(ran, "a part of the loop panicked");
    results
        .into_iter()
        .map(|r| {
            r.into_inner()
                .expect("one writer per part")
                .expect("every part ran")
        })
        .collect()
}

/// A copy of `src` into `dst` (the same length), split as [`split`] splits a loop.
pub fn copy(src: &[f32], dst: &mut [f32], threads: usize) {
    assert_eq!(src.len(), dst.len());
    let out = Shared::new(dst);
    split(src.len(), 1, threads, |s0, s1| {
        // SAFETY: `s0..s1` lies within `dst` (of `src.len()` elements), and no other part
        // writes it (`split`'s ranges are disjoint: `Shared`'s assumption), while `dst` stays
        // borrowed by this call.
        let d = unsafe { std::slice::from_raw_parts_mut(out.ptr().add(s0), s1 - s0) };
        d.copy_from_slice(&src[s0..s1]);
    });
}
