//! certdrop's end-to-end tests live in `e2e/`; this crate has no code.
