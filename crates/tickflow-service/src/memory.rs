//! Giving back to the system the memory the C allocator keeps after it was freed. glibc keeps
//! what a thread freed in that thread's arena for reuse; a service whose librdkafka threads free
//! fetch and delivery buffers all the time stays resident at whatever those arenas once held.
//! Two tools: a trim between batches of work, and large blocks kept out of the arenas.

/// Asks glibc to return the free pages of every arena to the system (`malloc_trim(0)`); returns
/// whether it gave any back. It walks and locks each arena in turn, so call it between batches of
/// work (the stream-processor does at each commit), not inside one. Elsewhere (musl, macOS) it does
/// nothing: those allocators have no such call.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_freed_memory() -> bool {
    // SAFETY: malloc_trim takes no pointers and only rearranges glibc's own free lists, under
    // the arenas' locks; it is safe to call from any thread at any time.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Does nothing off glibc.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_freed_memory() -> bool {
    false
}

/// Blocks of at least this size get pages of their own from the system.
pub const LARGE_BLOCK_BYTES: usize = 128 * 1024;

/// Keeps every block of at least [`LARGE_BLOCK_BYTES`] out of the arenas: it gets pages of its
/// own, which go back to the system when it is freed. glibc starts at the same size but raises
/// it to the size of each such block freed (up to 32 MB), and from then on carves blocks that
/// large (librdkafka's fetch buffers, a checkpoint's compressed states) from an arena, where
/// they stay resident once freed; a long run of the stream-processor stepped up by some 25 MB
/// that way (BENCHMARKS.md, "P3 and P6, sixth round"). Setting the size turns that adjustment
/// off. Returns whether glibc took the setting; elsewhere it does nothing and returns `false`.
/// Call it once at start, before the threads that allocate.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn keep_large_blocks_out_of_the_arenas() -> bool {
    let bytes = libc::c_int::try_from(LARGE_BLOCK_BYTES).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt takes no pointers and only sets a parameter of glibc's allocator.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, bytes) == 1 }
}

/// Does nothing off glibc.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn keep_large_blocks_out_of_the_arenas() -> bool {
    false
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use std::sync::Mutex;

    /// The tests read the whole process's resident memory: one at a time, or one's allocations
    /// show in the other's figures (the 32 MB of the first once hid a 4 MB free of the second).
    static MEASURING: Mutex<()> = Mutex::new(());

    /// Resident bytes, from `/proc/self/statm` (pages, 4 KiB on the machines this runs on).
    fn resident_bytes() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
        let pages: usize = statm.split(' ').nth(1).and_then(|p| p.parse().ok()).expect("resident pages");
        pages * 4096
    }

    #[test]
    fn memory_freed_below_a_live_allocation_goes_back_to_the_system() {
        let _alone = MEASURING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // 32 MB in blocks below the mmap threshold, each followed by a small block that stays:
        // glibc can neither merge the freed blocks nor give them back by shrinking its heap.
        let (mut blocks, mut pinned) = (Vec::new(), Vec::new());
        for n in 0..1024u32 {
            blocks.push(vec![n as u8 | 1; 32 * 1024]);
            pinned.push(Box::new(n));
        }
        drop(blocks);
        let before = resident_bytes();
        assert!(super::release_freed_memory(), "glibc gave pages back");
        let after = resident_bytes();
        assert!(before - after.min(before) >= 16 << 20, "resident {before} -> {after} bytes");
        assert!(pinned.iter().enumerate().all(|(n, p)| **p as usize == n), "what is still allocated is untouched");
    }

    #[test]
    fn a_large_block_goes_back_to_the_system_when_freed_even_after_larger_ones() {
        let _alone = MEASURING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        assert!(super::keep_large_blocks_out_of_the_arenas(), "glibc took the setting");
        // Without the setting, freeing this 8 MB block would make glibc serve blocks up to 8 MB
        // from an arena from then on.
        drop(std::hint::black_box(vec![1u8; 8 << 20]));
        for _ in 0..8 {
            let block = std::hint::black_box(vec![1u8; 4 << 20]);
            let pinned = Box::new(7u64); // after the block: it cannot go back by shrinking the heap
            let before = resident_bytes();
            drop(block);
            let after = resident_bytes();
            assert!(before - after.min(before) >= 3 << 20, "resident {before} -> {after} bytes on free");
            assert_eq!(*std::hint::black_box(pinned), 7);
        }
    }
}
