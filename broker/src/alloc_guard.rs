//! A global allocator that keeps hostile length prefixes from aborting the process.
//!
//! The `kafka-protocol` decoders size vectors from element counts read off the wire before
//! decoding a single element (kafka-protocol-rs PRs #152, #161, #200, unmerged). An 11-byte
//! request can ask for hundreds of gigabytes; the system allocator refuses and Rust aborts.
//! This allocator serves every allocation of [`LARGE`] bytes or more as an anonymous
//! `MAP_NORESERVE` mapping instead: it reserves address space only, pages are committed when
//! touched, so a bogus capacity costs nothing and the decode then fails cleanly on the
//! missing bytes. Ordinary allocations go to mimalloc: the record paths allocate small blocks
//! on one thread and free them on another (a producer's caller and its sender task), where
//! glibc's malloc serialises on arena locks and mimalloc's per-thread free lists do not.
//!
//! Install it in every binary that embeds the broker:
//! `#[global_allocator] static ALLOC: ferrokafka_broker::AllocGuard = ferrokafka_broker::AllocGuard;`
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};

use mimalloc::MiMalloc as Inner;

/// Allocations this large or larger are mapped lazily. Far above anything the broker
/// allocates legitimately (requests are capped by `socket.request.max.bytes`).
pub(crate) const LARGE: usize = 1 << 30;

/// See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllocGuard;

fn is_large(layout: Layout) -> bool {
    layout.size() >= LARGE && layout.align() <= 4096
}

unsafe fn map(size: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping has no preconditions; failure is MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED { std::ptr::null_mut() } else { p.cast() }
}

// SAFETY: large blocks come from mmap (page aligned, zero filled) and go back with munmap of
// the same size; everything else is delegated to mimalloc with the caller's layout.
unsafe impl GlobalAlloc for AllocGuard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(layout) { unsafe { map(layout.size()) } } else { unsafe { Inner.alloc(layout) } }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(layout) { unsafe { map(layout.size()) } } else { unsafe { Inner.alloc_zeroed(layout) } }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(layout) {
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            unsafe { Inner.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !is_large(layout) && !is_large(new_layout) {
            return unsafe { Inner.realloc(ptr, layout, new_size) };
        }
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}
