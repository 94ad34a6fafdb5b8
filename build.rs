// The SQL in queries/ is built into the binary: rebuild when it changes.
fn main() {
    println!("cargo:rerun-if-changed=queries");
}
