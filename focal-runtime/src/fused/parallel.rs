//! Splitting a kernel's work over threads, and the shared output it writes into.

use std::ops::Range;

/// Below this many elements a kernel runs on the calling thread: spawning costs more than it saves.
const MIN_ELEMENTS_PER_THREAD: usize = 1 << 15;

/// Runs `work` over `0..items`, split into contiguous ranges, one per thread (at most tch's
/// intra-op thread count, and fewer for small inputs), and returns each range's result in order.
/// `elements_per_item` sizes the split.
pub(crate) fn for_ranges<P: Send>(
    items: usize,
    elements_per_item: usize,
    work: impl Fn(Range<usize>) -> P + Sync,
) -> Vec<P> {
    let threads = thread_count(items, elements_per_item);
    if threads <= 1 {
        return vec![work(0..items)];
    }
    let per = items.div_ceil(threads);
    let ranges: Vec<Range<usize>> = (0..threads)
        .map(|t| (t * per).min(items)..((t + 1) * per).min(items))
        .filter(|r| !r.is_empty())
        .collect();
    let Some((first, rest)) = ranges.split_first() else {
        return vec![work(0..items)];
    };
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = rest
            .iter()
            .cloned()
            .map(|r| scope.spawn(move || work(r)))
            .collect();
        let mut out = vec![work(first.clone())];
        out.extend(handles.into_iter().map(|h| match h.join() {
            Ok(p) => p,
            Err(panic) => std::panic::resume_unwind(panic),
        }));
        out
    })
}

fn thread_count(items: usize, elements_per_item: usize) -> usize {
    let elements = items.saturating_mul(elements_per_item.max(1));
    let by_size = (elements / MIN_ELEMENTS_PER_THREAD).max(1);
    let available = usize::try_from(tch::get_num_threads()).unwrap_or(1).max(1);
    by_size.min(available).min(items.max(1))
}

/// A buffer that several threads write into, each at indices no other thread writes.
pub(crate) struct SharedOut<R> {
    ptr: *mut R,
    len: usize,
}

// SAFETY: threads only write disjoint indices (the contract of `write`), and `R` is plain data.
unsafe impl<R: Send> Send for SharedOut<R> {}
unsafe impl<R: Send> Sync for SharedOut<R> {}

impl<R: Copy> SharedOut<R> {
    /// Wraps `out` for the duration of the borrow.
    pub(crate) fn new(out: &mut [R]) -> Self {
        SharedOut {
            ptr: out.as_mut_ptr(),
            len: out.len(),
        }
    }

    /// The buffer's length.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The `len` elements from `start`, for one thread to write.
    ///
    /// # Safety
    /// No two live slices handed out may overlap, and the buffer `new` was given must outlive them.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice(&self, start: usize, len: usize) -> &mut [R] {
        assert!(start + len <= self.len, "fused kernel wrote out of bounds");
        // SAFETY: in bounds (checked above); disjointness is the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}
