//! The global allocator: mimalloc, asked for plain blocks when the alignment wanted is one
//! every mimalloc block has.
//!
//! `mimalloc::MiMalloc` asks for every block with `mi_malloc_aligned`, whose fast path only
//! serves sizes up to 1 KiB: a larger block (the upstream client's read buffer, hyper's
//! buffers, a request's JSON) takes mimalloc's generic aligned path, which over-allocates,
//! even for byte buffers (alignment 1). Every mimalloc block is aligned to at least 8 bytes
//! (its size classes are multiples of the word size and pages start aligned), so for an
//! alignment of 8 or less `mi_malloc` gives the same guarantee at its fast path's cost, as
//! `std`'s `System` allocator uses `malloc` below its `MIN_ALIGN`.

use libmimalloc_sys as mi;
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

/// Alignment every mimalloc block has.
const BLOCK_ALIGN: usize = 8;

/// mimalloc without its aligned entry points for ordinary alignments.
#[derive(Debug, Clone, Copy, Default)]
pub struct MiMalloc;

// SAFETY: every block comes from mimalloc and is freed or resized by it; blocks from
// `mi_malloc`/`mi_zalloc`/`mi_realloc` are aligned to `BLOCK_ALIGN`, so they are only used
// for layouts that need no more, and the aligned entry points serve the others (a layout
// keeps its alignment through `realloc`, so a block stays in its family).
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= BLOCK_ALIGN {
            mi::mi_malloc(layout.size()).cast()
        } else {
            mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= BLOCK_ALIGN {
            mi::mi_zalloc(layout.size()).cast()
        } else {
            mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi::mi_free(ptr.cast::<c_void>());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= BLOCK_ALIGN {
            mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
        } else {
            mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MiMalloc;
    use std::alloc::{GlobalAlloc, Layout};

    /// Every size up to 5000 (small, medium and the generic path's sizes) at every
    /// alignment from 1 to 4096: blocks are aligned, writable, zeroed when asked, and keep
    /// their bytes when grown or shrunk.
    #[test]
    fn blocks_are_aligned_and_keep_their_bytes() {
        let mut align = 1;
        while align <= 4096 {
            for size in (1..=5000).step_by(if align > 64 { 97 } else { 7 }) {
                let layout = Layout::from_size_align(size, align).unwrap();
                unsafe {
                    let zeroed = MiMalloc.alloc_zeroed(layout);
                    assert!(!zeroed.is_null());
                    assert_eq!(zeroed as usize % align, 0, "zeroed size {size} align {align}");
                    assert!(std::slice::from_raw_parts(zeroed, size).iter().all(|b| *b == 0));
                    MiMalloc.dealloc(zeroed, layout);

                    let block = MiMalloc.alloc(layout);
                    assert!(!block.is_null());
                    assert_eq!(block as usize % align, 0, "size {size} align {align}");
                    for i in 0..size {
                        *block.add(i) = i as u8;
                    }
                    let grown = MiMalloc.realloc(block, layout, size * 3 + 1500);
                    assert_eq!(grown as usize % align, 0, "grown size {size} align {align}");
                    assert!((0..size).all(|i| *grown.add(i) == i as u8));
                    let layout = Layout::from_size_align(size * 3 + 1500, align).unwrap();
                    let shrunk = MiMalloc.realloc(grown, layout, size.div_ceil(2));
                    assert_eq!(shrunk as usize % align, 0, "shrunk size {size} align {align}");
                    assert!((0..size.div_ceil(2)).all(|i| *shrunk.add(i) == i as u8));
                    MiMalloc.dealloc(shrunk, Layout::from_size_align(size.div_ceil(2), align).unwrap());
                }
            }
            align *= 2;
        }
    }
}
