//! The host's description readers and planner, compiled from their sources
//! for fuzzing without the rest of the `builder` crate.

#[path = "../../host/src/description/mod.rs"]
pub mod description;
#[path = "../../host/src/plan/mod.rs"]
pub mod plan;
