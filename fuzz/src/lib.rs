//! The host's description readers and planner, and the toolbox's option
//! allowlists, names and partition arithmetic, compiled from their sources for fuzzing without the rest of
//! the `builder` crate.

#[path = "../../host/src/description/mod.rs"]
pub mod description;
#[path = "../../host/src/interrupt.rs"]
pub mod interrupt;
#[path = "../../host/src/toolbox/layout.rs"]
pub mod layout;
#[path = "../../host/src/toolbox/names.rs"]
pub mod names;
#[path = "../../host/src/toolbox/options.rs"]
pub mod options;
#[path = "../../host/src/plan/mod.rs"]
pub mod plan;
