//! Giving back to the system the memory the C allocator keeps after it was freed. glibc keeps
//! what a thread freed in that thread's arena for reuse; a service whose librdkafka threads free
//! fetch and delivery buffers all the time stays resident at whatever those arenas once held.

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

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    /// Resident bytes, from `/proc/self/statm` (pages, 4 KiB on the machines this runs on).
    fn resident_bytes() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
        let pages: usize = statm.split(' ').nth(1).and_then(|p| p.parse().ok()).expect("resident pages");
        pages * 4096
    }

    #[test]
    fn memory_freed_below_a_live_allocation_goes_back_to_the_system() {
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
}
