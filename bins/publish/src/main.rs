//! certdrop-publish (being written).

fn main() {}
