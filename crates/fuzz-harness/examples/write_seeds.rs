//! Writes the generated seeds to `fuzz/corpus/<target>/<name>` (run from anywhere in the
//! workspace): `cargo run -p fuzz-harness --example write_seeds`.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for (target, name, bytes) in fuzz_harness::seeds::seeds() {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}
