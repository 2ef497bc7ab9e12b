//! Writes a contact sheet of the built-in synthetic dataset: 8 samples per class (rows, in
//! label order: circle, square, triangle, star, cross, ring, bowtie, arrow, crescent,
//! heart) for the training split, the in-style test split and the held-out-style split
//! (blocks, left to right), magnified 3 times.
//!
//! `cargo run --release --example synthetic_contact_sheet -- [OUT.png] [DATA SPEC]`

use advbn::data::{DataSpec, LoadOptions, load, write_contact_sheet};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .unwrap_or_else(|| "synthetic-contact-sheet.png".to_string());
    let spec: DataSpec = args.next().as_deref().unwrap_or("synthetic").parse()?;
    let opts = LoadOptions {
        train_limit: Some(200),
        test_limit: Some(200),
        ..Default::default()
    };
    let splits = load(&spec, &opts)?;
    let mut sets = vec![&splits.train, &splits.test];
    sets.extend(splits.shifts.iter().map(|(_, ds)| ds));
    write_contact_sheet(out.as_ref(), &sets, 8, 3)?;
    println!("wrote {out}");
    Ok(())
}
