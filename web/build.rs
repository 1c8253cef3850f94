//! The pages are embedded with `include_dir!`, which cargo does not know reads `assets/`:
//! without this, editing a page would not rebuild the binary.
fn main() {
    println!("cargo:rerun-if-changed=assets");
}
