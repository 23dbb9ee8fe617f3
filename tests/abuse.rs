//! The product tried as an attacker would, on loopback: each module holds the
//! attempts against one class of hole and asserts it stays shut.

mod common;

#[path = "abuse/bounds.rs"]
mod bounds;
#[path = "abuse/connections.rs"]
mod connections;
#[path = "abuse/hygiene.rs"]
mod hygiene;
#[path = "abuse/sandbox.rs"]
mod sandbox;
#[path = "abuse/signin.rs"]
mod signin;
