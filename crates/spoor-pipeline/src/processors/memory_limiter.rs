//! placeholder: the memory_limiter processor
