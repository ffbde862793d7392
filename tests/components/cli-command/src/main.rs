//! A plain command-line program. Built for `wasm32-wasip2` it is a component
//! for the `wasi:cli/command` world, which exports `wasi:cli/run` and none of
//! the `hutong:platform` entry points: the host must refuse to install it.

fn main() {
    println!("not an app");
}
