//! Clarity Connect data plane.
pub mod connectors;
pub mod egress;
pub mod flows;
pub mod limits;
pub mod mapping;
pub mod queue;
pub mod retry;
