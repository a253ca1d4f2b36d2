//! The build plan: profiles resolved, build type selected, everything validated.
