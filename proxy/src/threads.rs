//! Per-thread placement: a small number per thread, and a cache line of its own for data one
//! thread writes, so that the worker threads do not pass lines back and forth on every request.

use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SLOT: usize = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
}

/// A small number for this thread, different from every other thread's.
pub(crate) fn thread_slot() -> usize {
    SLOT.with(|slot| *slot)
}

/// `T` alone on its cache lines (128 bytes: two lines, as adjacent lines are fetched in pairs).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);
