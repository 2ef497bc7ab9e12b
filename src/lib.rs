//! advbn
