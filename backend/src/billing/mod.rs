//! The business side of a tenant: its plan and what the plan allows
//! ([`plans`]), its subscription and how it changes ([`subscription`]), and
//! the refusals at creation that keep a tenant inside its plan ([`enforce`]),
//! and when the plan holds its work ([`holds`]).
//! Metering (what was used) stays in `usage`; this module decides what is
//! allowed.

pub mod enforce;
pub mod holds;
pub mod plans;
pub mod statement;
pub mod subscription;
pub mod summary;

pub use enforce::{Counted, PlanLimit};
pub use holds::{Held, PlanState};
pub use plans::{Limits, Overrides, Plan};
pub use subscription::Subscription;
pub use summary::Usage;
