//! Link settings for the host's benches and examples.

fn main() {
    // Benches and examples may link several plugin rlibs statically (to compare with loading
    // them from `.so` files). Each rlib carries the same exported library-header symbol,
    // which those binaries never look up; let the first definition win there. (Tests, examples and
    // benches only: the `rewho` binary and the library link no plugin.)
    println!("cargo:rustc-link-arg-benches=-Wl,--allow-multiple-definition");
    println!("cargo:rustc-link-arg-examples=-Wl,--allow-multiple-definition");
    println!("cargo:rustc-link-arg-tests=-Wl,--allow-multiple-definition");
}
