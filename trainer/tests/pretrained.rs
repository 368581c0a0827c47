//! The committed pretrained Fashion-MNIST run (`pretrained/runs/fmnist`): its model scores
//! u8 images at the bin centre no worse than under random dequantization (the bin-centre defect
//! of model layout 1, docs/results.md), on the first test images of Fashion-MNIST (the embedded
//! slice, so the test needs no installed data set).

mod common;
use common::*;
use realnvp_trainer::data::Split;
use realnvp_trainer::{eval, run};

/// The run directory committed in the repository.
fn pretrained_run() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../pretrained/runs/fmnist")
}

#[test]
fn pretrained_model_scores_the_bin_centre_no_worse_than_random_u() -> TestResult {
    let dir = pretrained_run();
    let loaded = run::load_run(&dir, &cpu()).map_err(|e| {
        format!(
            "cannot load the committed pretrained run {} ({e}); it is part of the repository",
            dir.display()
        )
    })?;
    let data = run::load_data("embedded", loaded.model.config(), 0)?;
    let n = Some(400);
    let centre = eval::score(&loaded.model, &data, Split::Test, 200, n, &cpu())?;
    let random =
        eval::importance_weighted(&loaded.model, &data, Split::Test, 1, 0, 200, n, &cpu())?;
    let (centre, random) = (centre.bits_per_dim, random.single.bits_per_dim);
    println!("u = 0.5: {centre:.4} bits/dim, random u: {random:.4} bits/dim");
    assert!(
        centre - random <= 0.05,
        "the bin centre scores {centre:.4} bits/dim, random dequantization {random:.4}: a density with holes inside the pixel bins"
    );
    // A trained model, not one whose weights are read in another layout.
    assert!(
        random < 4.0,
        "random-u test bits/dim {random:.4}: not a trained model"
    );
    Ok(())
}
