//! advbn

pub mod data;
