//! The fix patterns, compiled from `rules/fixes/*.md` by build.rs.
#![allow(dead_code)]

pub mod safe_drop {
    use crate::placeholders::Resource;
    include!(concat!(env!("OUT_DIR"), "/safe_drop.rs"));
}

/// safe_drop.md's types with its "do not" Drop (the seed audit's B.1).
pub mod naive_drop {
    use crate::placeholders::Resource;
    include!(concat!(env!("OUT_DIR"), "/safe_drop_naive.rs"));
}

pub mod temp_file_guard {
    include!(concat!(env!("OUT_DIR"), "/temp_file_guard.rs"));
}

/// `<pattern> <rust blocks> <should_panic blocks>` lines.
pub const BLOCKS: &str = include_str!(concat!(env!("OUT_DIR"), "/blocks.txt"));
