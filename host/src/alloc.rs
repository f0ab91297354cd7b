//! The global allocator of the `rewho` binary and its benchmarks: mimalloc, taking its plain
//! `malloc` path whenever a `malloc` block is aligned enough anyway.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys::{
    mi_free, mi_malloc, mi_malloc_aligned, mi_realloc, mi_realloc_aligned, mi_zalloc,
    mi_zalloc_aligned,
};

/// mimalloc as the global allocator (`#[global_allocator] static A: Allocator = Allocator;`).
///
/// `mimalloc::MiMalloc` always calls mimalloc's aligned entry points, whose checks cost about
/// a quarter of a small allocation and send some requests down a slower path. Nearly every
/// allocation on the request path is a string or a vector aligned to at most a word, which
/// every mimalloc block is (its block sizes are whole words), so those go to `mi_malloc`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Allocator;

/// Whether every mimalloc block already has `align`.
fn word_aligned(align: usize) -> bool {
    align <= std::mem::size_of::<usize>()
}

// SAFETY: every method forwards to the mimalloc call with the same contract; the plain calls
// are used only for alignments every mimalloc block has.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if word_aligned(layout.align()) {
            mi_malloc(layout.size()).cast()
        } else {
            mi_malloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if word_aligned(layout.align()) {
            mi_zalloc(layout.size()).cast()
        } else {
            mi_zalloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi_free(ptr.cast::<c_void>());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if word_aligned(layout.align()) {
            mi_realloc(ptr.cast::<c_void>(), new_size).cast()
        } else {
            mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_have_the_alignment_asked_for() {
        let a = Allocator;
        for align in [1usize, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1usize, 3, 8, 24, 40, 100, 5000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: the layout has a non-zero size; the block is freed right after.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    let p = a.realloc(p, layout, size * 3);
                    assert_eq!(p as usize % align, 0, "realloc: size {size} align {align}");
                    a.dealloc(p, Layout::from_size_align(size * 3, align).unwrap());
                    let z = a.alloc_zeroed(layout);
                    assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0));
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
