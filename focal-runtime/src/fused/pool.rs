//! The kernels' threads: libtorch's own intra-op threads (`at::parallel_for` through the C++
//! shim's `csrc/parallel.cpp`; OpenMP in the PyPI build), the ones its parallel operations use.
//! Threads of focal's own competed with libtorch's idle OpenMP workers, which spin for a while
//! after each parallel op, for the cores; libtorch's threads take the kernels' work instead.
//!
//! A call runs `parts` work items: the calling thread takes part, with up to
//! `tch::get_num_threads() - 1` of libtorch's threads, each taking the next part left until none
//! is. Helpers are reserved from one budget of `tch::get_num_threads() - 1` for the whole process:
//! when several threads call losses at once, each gets what is left of it and does the rest
//! itself, so there is no oversubscription, and, since the split into parts does not depend on
//! who runs them, the result is the lone call's.

use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A kernel panicked on some thread (caught there, so the caller can fall back or report).
#[derive(Debug)]
pub(crate) struct Panicked;

/// The helper threads doing work right now, and the most there ever were at once (for the tests).
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The helpers reserved by the calls running now (at most `threads() - 1`).
static RESERVED: AtomicUsize = AtomicUsize::new(0);

/// The most helper threads that have run at once since the process started.
pub(crate) fn peak_workers() -> usize {
    PEAK.load(Ordering::SeqCst)
}

/// The number of threads the kernels may use: tch's intra-op thread count (at least 1).
pub(crate) fn threads() -> usize {
    usize::try_from(tch::get_num_threads()).unwrap_or(1).max(1)
}

extern "C" {
    fn focal_parallel_run(
        members: i64,
        member: extern "C" fn(*mut c_void, i64),
        ctx: *mut c_void,
        error_out: *mut *mut c_char,
    ) -> i32;
    fn focal_free_string(s: *mut c_char);
}

/// One call's work: `f(part)` for every part, parts handed out by `next`.
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
    parts: usize,
    next: AtomicUsize,
    panicked: AtomicBool,
}

// `member` shares one `Job` among libtorch's threads through a pointer: it must be `Sync`.
const _: fn() = || {
    fn shared_across_threads<T: Sync>() {}
    shared_across_threads::<Job<'static>>();
};

impl Job<'_> {
    /// Runs parts until none is left.
    fn participate(&self) {
        loop {
            let part = self.next.fetch_add(1, Ordering::Relaxed);
            if part >= self.parts {
                return;
            }
            if catch_unwind(AssertUnwindSafe(|| (self.f)(part))).is_err() {
                self.panicked.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// What the shim calls on each thread of the parallel region: member `index` (0 on the calling
/// thread) takes parts of the `Job` at `ctx`. Never unwinds (each part runs under
/// `catch_unwind`, and nothing else here panics).
extern "C" fn member(ctx: *mut c_void, index: i64) {
    // SAFETY: `ctx` is the `&Job` that `run` passed to `focal_parallel_run`, which returns only
    // after every member has returned, so the `Job` outlives this call; it is only read through
    // shared references (atomics and a `Sync` closure).
    let job = unsafe { &*ctx.cast_const().cast::<Job<'_>>() };
    let helper = index > 0;
    if helper {
        let now = ACTIVE.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(now, Ordering::SeqCst);
    }
    job.participate();
    if helper {
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Up to `wanted` helpers from what the calls running now left of `limit`.
fn reserve(wanted: usize, limit: usize) -> usize {
    let mut got = 0;
    let _ = RESERVED.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |busy| {
        got = limit.saturating_sub(busy).min(wanted);
        Some(busy + got)
    });
    got
}

/// Gives reserved helpers back when dropped (also if the caller's own share unwound).
struct Reservation(usize);

impl Drop for Reservation {
    fn drop(&mut self) {
        RESERVED.fetch_sub(self.0, Ordering::SeqCst);
    }
}

/// Runs `f(part)` for each part in `0..parts`, on the calling thread and up to `threads - 1` of
/// libtorch's intra-op threads (as many as the calls running now leave); returns once every part
/// has run. `Err` where `f` panicked (caught on the thread it ran on).
pub(crate) fn run(
    parts: usize,
    threads: usize,
    f: &(dyn Fn(usize) + Sync),
) -> Result<(), Panicked> {
    let job = Job {
        f,
        parts,
        next: AtomicUsize::new(0),
        panicked: AtomicBool::new(false),
    };
    let helpers = if parts > 1 && threads > 1 {
        reserve((parts - 1).min(threads - 1), threads - 1)
    } else {
        0
    };
    if helpers > 0 {
        let _reservation = Reservation(helpers);
        let members = i64::try_from(helpers + 1).unwrap_or(1);
        let mut error: *mut c_char = std::ptr::null_mut();
        let ctx: *const Job<'_> = &job;
        // SAFETY: `member` never unwinds; `ctx` points to `job`, which lives on this frame until
        // after the call, which returns once every member has; `error` is written only on
        // failure, with a string the shim allocated.
        let status =
            unsafe { focal_parallel_run(members, member, ctx.cast_mut().cast(), &mut error) };
        if status != 0 && !error.is_null() {
            // SAFETY: the shim's `strdup`ed message, freed once by the shim's `free`. (The parts
            // left run on this thread below: a failed parallel region costs speed, not the call.)
            unsafe { focal_free_string(error) };
        }
    }
    // Whatever is left (nothing after a parallel region that ran).
    job.participate();
    if job.panicked.load(Ordering::Relaxed) {
        Err(Panicked)
    } else {
        Ok(())
    }
}
