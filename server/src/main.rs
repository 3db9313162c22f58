//! `xlserver`: xlfeed's query server (see the `xlfeed_server` crate).

fn main() {}
