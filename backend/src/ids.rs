//! Prefixed, time-ordered ids (`tnt_…`, `pair_…`, `run_…`) that say what they
//! are in logs and URLs.

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}
