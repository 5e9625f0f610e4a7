//! certdrop-trigger (being written).

fn main() {}
