//! The kernels' threads: a small pool of parked worker threads, made once (lazily, up to tch's
//! intra-op thread count less one) and reused by every call, instead of spawning threads per
//! call.
//!
//! A call runs `parts` work items: the calling thread takes part, with as many idle workers as
//! it can recruit without the pool running more than `tch::get_num_threads() - 1` workers at once
//! (the caller makes the count up to the thread count). When several threads call losses at
//! once, each recruits what is idle and does the rest itself: no oversubscription, and, since the
//! split into parts does not depend on who runs them, the same result as a lone call.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

/// A kernel panicked on some thread (caught there, so the caller can fall back or report).
#[derive(Debug)]
pub(crate) struct Panicked;

/// The workers doing work right now, and the most there ever were at once (for the tests).
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The most pool workers that have run at once since the process started.
pub(crate) fn peak_workers() -> usize {
    PEAK.load(Ordering::SeqCst)
}

/// The number of threads the kernels may use: tch's intra-op thread count (at least 1).
pub(crate) fn threads() -> usize {
    usize::try_from(tch::get_num_threads()).unwrap_or(1).max(1)
}

/// One call's work: `f(part)` for every part, parts handed out by `next`.
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
    parts: usize,
    next: AtomicUsize,
    panicked: AtomicBool,
}

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

/// Counts the recruited workers down; the caller waits for 0 before its `Job` goes away. Shared
/// through an `Arc`, so that a worker signalling it never touches the caller's stack.
struct Latch {
    left: Mutex<usize>,
    done: Condvar,
}

impl Latch {
    fn count_down(&self) {
        let mut left = lock(&self.left);
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.done.notify_all();
        }
    }

    fn wait(&self) {
        let mut left = lock(&self.left);
        while *left > 0 {
            left = self.done.wait(left).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// A job handed to a worker: the caller's `Job` (its lifetime erased) and the latch.
struct Assignment {
    job: *const Job<'static>,
    latch: Arc<Latch>,
}

// SAFETY: the `Job` behind the pointer is `Sync` (atomics and a `Sync` closure), and the caller
// keeps it alive until the worker has counted the latch down (see `run`).
unsafe impl Send for Assignment {}

/// One parked worker: its mailbox.
struct Worker {
    mailbox: Mutex<Option<Assignment>>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    idle: Vec<Arc<Worker>>,
    spawned: usize,
    /// Workers recruited and not yet back in `idle`.
    busy: usize,
}

static POOL: OnceLock<Mutex<State>> = OnceLock::new();

fn pool() -> &'static Mutex<State> {
    POOL.get_or_init(|| Mutex::new(State::default()))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The pool's own code does not panic while holding its locks; a poisoned lock still holds
    // consistent data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn worker_loop(me: Arc<Worker>) {
    loop {
        let assignment = {
            let mut mailbox = lock(&me.mailbox);
            loop {
                if let Some(a) = mailbox.take() {
                    break a;
                }
                mailbox = me.wake.wait(mailbox).unwrap_or_else(|e| e.into_inner());
            }
        };
        let now = ACTIVE.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(now, Ordering::SeqCst);
        // SAFETY: the caller of `run` keeps the `Job` alive until this worker counts the latch
        // down below, and only reads it through shared references (its fields are atomics and a
        // `Sync` closure), so this shared borrow aliases nothing mutable.
        let job = unsafe { &*assignment.job };
        job.participate();
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
        // Back in the idle list before the caller may see the job done, so that a caller's next
        // call finds this worker again.
        {
            let mut state = lock(pool());
            state.busy = state.busy.saturating_sub(1);
            state.idle.push(me.clone());
        }
        // The last use of the job: from here on the caller may free it.
        assignment.latch.count_down();
    }
}

/// Up to `wanted` idle workers (spawning new ones while fewer than `limit` exist).
fn recruit(wanted: usize, limit: usize) -> Vec<Arc<Worker>> {
    let mut state = lock(pool());
    let room = limit.saturating_sub(state.busy).min(wanted);
    let mut got = Vec::with_capacity(room);
    while got.len() < room {
        if let Some(w) = state.idle.pop() {
            got.push(w);
            continue;
        }
        if state.spawned >= limit {
            break;
        }
        let worker = Arc::new(Worker {
            mailbox: Mutex::new(None),
            wake: Condvar::new(),
        });
        let mine = worker.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("focal-fused-{}", state.spawned))
            .spawn(move || worker_loop(mine));
        if spawned.is_err() {
            break;
        }
        state.spawned += 1;
        got.push(worker);
    }
    state.busy += got.len();
    got
}

/// Runs `f(part)` for each part in `0..parts`, on the calling thread and as many pool workers as
/// are idle, up to `threads - 1` of them; returns once every part has run. `Err` where `f`
/// panicked (caught on the thread it ran on).
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
        recruit((parts - 1).min(threads - 1), threads - 1)
    } else {
        Vec::new()
    };
    let latch = Arc::new(Latch {
        left: Mutex::new(helpers.len()),
        done: Condvar::new(),
    });
    {
        /// Waits for the workers also if the caller's own share unwinds (it cannot: parts are
        /// run under `catch_unwind`; this keeps the lifetime argument local).
        struct WaitOnDrop<'l>(&'l Latch);
        impl Drop for WaitOnDrop<'_> {
            fn drop(&mut self) {
                self.0.wait();
            }
        }
        let _wait = WaitOnDrop(&latch);
        let erased: *const Job<'_> = &job;
        for worker in helpers {
            let assignment = Assignment {
                // The lifetime is erased for the mailbox; `_wait` keeps `job` alive (this frame
                // does not return) until every worker handed it has counted the latch down.
                job: erased.cast::<Job<'static>>(),
                latch: latch.clone(),
            };
            *lock(&worker.mailbox) = Some(assignment);
            worker.wake.notify_one();
        }
        job.participate();
    }
    if job.panicked.load(Ordering::Relaxed) {
        Err(Panicked)
    } else {
        Ok(())
    }
}
