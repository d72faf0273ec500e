//! A global allocator that keeps hostile length prefixes from aborting the process.
//!
//! The `kafka-protocol` decoders size vectors from element counts read off the wire before
//! decoding a single element (kafka-protocol-rs PRs #152, #161, #200, unmerged). An 11-byte
//! request can ask for hundreds of gigabytes; the system allocator refuses and Rust aborts.
//! This allocator serves every allocation of [`LARGE`] bytes or more as an anonymous
//! `MAP_NORESERVE` mapping instead: it reserves address space only, pages are committed when
//! touched, so a bogus capacity costs nothing and the decode then fails cleanly on the
//! missing bytes. Ordinary allocations go to the system allocator untouched ([`AllocGuard`]),
//! or to mimalloc ([`MiAllocGuard`], feature `mimalloc`).
//!
//! Which inner allocator, measured (2026-11-25, librdkafka driving the release broker): the
//! broker binary gains no throughput from mimalloc and doubles its idle RSS (6.5 → 12.7 MiB),
//! so it keeps the system allocator. The language bindings use mimalloc: there a producer's
//! records are allocated on the caller's thread and freed on the sender task's, and glibc's
//! malloc spent about a fifth of the Python produce path in arena locks and consolidation.
//!
//! Install it in every binary that embeds the broker:
//! `#[global_allocator] static ALLOC: ferrokafka_broker::AllocGuard = ferrokafka_broker::AllocGuard;`
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations this large or larger are mapped lazily. Far above anything the broker
/// allocates legitimately (requests are capped by `socket.request.max.bytes`).
pub(crate) const LARGE: usize = 1 << 30;

/// See the module documentation: large allocations mapped lazily, the rest to the system
/// allocator.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllocGuard;

/// As [`AllocGuard`], with mimalloc for ordinary allocations (for the bindings).
#[cfg(feature = "mimalloc")]
#[derive(Debug, Clone, Copy, Default)]
pub struct MiAllocGuard;

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

/// The guard's `GlobalAlloc` over an inner allocator.
macro_rules! guard_over {
    ($guard:ty, $inner:expr) => {
        // SAFETY: large blocks come from mmap (page aligned, zero filled) and go back with munmap of
        // the same size; everything else is delegated to the inner allocator with the caller's layout.
        unsafe impl GlobalAlloc for $guard {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                if is_large(layout) { unsafe { map(layout.size()) } } else { unsafe { $inner.alloc(layout) } }
            }

            unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
                if is_large(layout) { unsafe { map(layout.size()) } } else { unsafe { $inner.alloc_zeroed(layout) } }
            }

            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                if is_large(layout) {
                    unsafe { libc::munmap(ptr.cast(), layout.size()) };
                } else {
                    unsafe { $inner.dealloc(ptr, layout) }
                }
            }

            unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
                let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
                if !is_large(layout) && !is_large(new_layout) {
                    return unsafe { $inner.realloc(ptr, layout, new_size) };
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
    };
}

guard_over!(AllocGuard, System);
#[cfg(feature = "mimalloc")]
guard_over!(MiAllocGuard, mimalloc::MiMalloc);
