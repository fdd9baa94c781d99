//! The exporters with no protocol of their own: `debug` (alias `logging`) and `nop`.

pub mod debug;
pub mod nop;
