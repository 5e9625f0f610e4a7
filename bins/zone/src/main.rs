//! certdrop-zone (work in progress).

#![allow(dead_code)]

mod fragments;
mod masterfile;
mod record;
mod serial;

fn main() {}
