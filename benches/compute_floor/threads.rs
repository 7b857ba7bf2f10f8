//! Splitting a loop's positions over threads, and the copy the floors are measured against.

/// A pointer the threads share, each writing its own positions.
///
/// The aliasing assumption of every use: the pointer comes from a `&mut [f32]` that the caller
/// borrows for the whole [`split`] call (so it outlives every thread), and each thread reads and
/// writes only the positions of its own range through it: no element is written by one thread
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

// SAFETY: the pointer is only dereferenced inside `split`'s thread scope while the `&mut [f32]`
// it came from is borrowed, and each thread touches a disjoint set of positions through it (the
// aliasing assumption above, which every caller's SAFETY comment states for its loop).
unsafe impl Send for Shared {}
// SAFETY: as for `Send`: shared references to `Shared` only copy the pointer.
unsafe impl Sync for Shared {}

/// `part(s0, s1)` on `threads` threads, each with its own range of `0..len`: disjoint, covering
/// `0..len`, their bounds multiples of `granule` (when `len` is one; the loops pass their lane
/// count) or `len`. The parts' results in order.
pub fn split<T: Send>(
    len: usize,
    granule: usize,
    threads: usize,
    part: impl Fn(usize, usize) -> T + Sync,
) -> Vec<T> {
    assert!(granule > 0);
    let per = (len / granule).div_ceil(threads.max(1)).max(1) * granule;
    let part = &part;
    std::thread::scope(|scope| {
        let parts: Vec<_> = (0..threads.max(1))
            .map(|t| {
                let (s0, s1) = ((t * per).min(len), ((t + 1) * per).min(len));
                scope.spawn(move || part(s0, s1))
            })
            .collect();
        parts
            .into_iter()
            .map(|p| p.join().expect("a part of the loop panicked"))
            .collect()
    })
}

/// A copy of `src` into `dst` (the same length), split over `threads` threads.
pub fn copy(src: &[f32], dst: &mut [f32], threads: usize) {
    assert_eq!(src.len(), dst.len());
    let per = src.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        for (s, d) in src.chunks(per).zip(dst.chunks_mut(per)) {
            scope.spawn(move || d.copy_from_slice(s));
        }
    });
}
