//! Process memory readings: jemalloc's exact allocation count, RSS, and the memory limit of
//! the machine or container.

use std::fs;

/// Bytes currently allocated through jemalloc, exact. `None` when jemalloc's stats are not
/// available (the binary always runs on jemalloc; some unit tests do not).
pub fn allocated_bytes() -> Option<u64> {
    tikv_jemalloc_ctl::epoch::advance().ok()?;
    let allocated = tikv_jemalloc_ctl::stats::allocated::read().ok()? as u64;
    (allocated > 0).then_some(allocated)
}

/// jemalloc's `(allocated, resident)`: bytes in live allocations, and bytes of physical
/// pages it holds, which adds freed pages not yet handed back and its metadata.
pub fn allocator_bytes() -> Option<(u64, u64)> {
    let allocated = allocated_bytes()?;
    let resident = tikv_jemalloc_ctl::stats::resident::read().ok()? as u64;
    Some((allocated, resident))
}

/// Hands dirty pages back to the kernel, as the Go collector runs its GC above the hard limit.
pub fn release_free_memory() {
    // "arena.<MALLCTL_ARENAS_ALL>.purge"; MALLCTL_ARENAS_ALL is 4096.
    // SAFETY: the name is NUL-terminated and purge takes no argument.
    unsafe {
        let _ = tikv_jemalloc_ctl::raw::write(b"arena.4096.purge\0", ());
    }
}

/// Resident set size from `/proc/self/statm`.
pub fn rss_bytes() -> Option<u64> {
    let statm = fs::read_to_string("/proc/self/statm").ok()?;
    let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident_pages * page_size())
}

fn page_size() -> u64 {
    4096
}

/// The memory this process may use: the cgroup limit when one is set, else the machine's total.
pub fn total_memory_limit() -> Option<u64> {
    cgroup_limit().or_else(machine_total)
}

fn cgroup_limit() -> Option<u64> {
    let v2 = fs::read_to_string("/sys/fs/cgroup/memory.max").ok();
    let v1 = || fs::read_to_string("/sys/fs/cgroup/memory/memory.limit_in_bytes").ok();
    let text = v2.or_else(v1)?;
    let limit: u64 = text.trim().parse().ok()?;
    // cgroup v1 reports "no limit" as a huge number near i64::MAX.
    (limit < (1 << 60)).then_some(limit)
}

fn machine_total() -> Option<u64> {
    let meminfo = fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss_and_machine_memory() {
        assert!(rss_bytes().unwrap() > 0);
        assert!(total_memory_limit().unwrap() > rss_bytes().unwrap());
    }
}
