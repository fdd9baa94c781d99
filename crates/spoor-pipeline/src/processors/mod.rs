//! The processors: `memory_limiter` and `batch`, plus the memory readings they use.

pub mod batch;
pub mod memory;
pub mod memory_limiter;
