//! Clarity Connect data plane.
pub mod connectors;
pub mod flows;
pub mod egress;
pub mod limits;
pub mod mapping;
pub mod queue;
pub mod retry;
