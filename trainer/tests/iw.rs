//! The importance-weighted bound of `eval` on a fixed (randomized) image model.

mod common;
use common::*;
use realnvp_models::FlowConfig;
use realnvp_models::testing::randomize;
use realnvp_trainer::data::Split;
use realnvp_trainer::eval;
use realnvp_trainer::init::seeded_init;
use realnvp_trainer::run::load_data;

#[test]
fn iw_bound_is_below_the_single_sample_figure() -> TestResult {
    let config = FlowConfig::preset("tiny")?;
    let (model, varmap) = seeded_init(&config, 0, &cpu())?;
    randomize(&varmap, 5)?; // a model whose density varies within a pixel's unit cube
    let data = load_data("embedded", &config, 0)?;
    let n = Some(300);
    let a = eval::importance_weighted(&model, &data, Split::Test, 8, 11, 100, n, &cpu())?;
    // Jensen, per example and so on average, for the same draws.
    assert!(a.iw.nll_nats <= a.single.nll_nats);
    // Against independent noise (another seed: 8 draws averaged as K = 1 estimates), the IW-8
    // figure is still lower: the gap comes from K, not from reusing the draws. The seed-to-seed
    // spread of the K = 1 averages bounds the noise of the comparison.
    let b = eval::importance_weighted(&model, &data, Split::Test, 8, 99, 100, n, &cpu())?;
    let k1 = eval::importance_weighted(&model, &data, Split::Test, 1, 5, 100, n, &cpu())?;
    assert_eq!(k1.iw, k1.single);
    let gap = b.single.nll_nats - a.iw.nll_nats;
    let spread = (a.single.nll_nats - b.single.nll_nats).abs();
    println!(
        "IW-8 {:.3}; K=1 averages: same draws {:.3}, other seed {:.3}, one draw {:.3}; u = 0.5: {:.3} nats",
        a.iw.nll_nats,
        a.single.nll_nats,
        b.single.nll_nats,
        k1.iw.nll_nats,
        eval::score(&model, &data, Split::Test, 100, n, &cpu())?.nll_nats
    );
    assert!(
        gap > 0.0 && gap > 3.0 * spread,
        "gap {gap}, seed-to-seed spread {spread}"
    );
    // Vectors have no dequantization noise to average over.
    let moons = load_data(
        "toy:moons?n=100&n_test=50",
        &FlowConfig::preset("moons")?,
        0,
    )?;
    let (vm, _) = seeded_init(&FlowConfig::preset("moons")?, 0, &cpu())?;
    assert!(eval::importance_weighted(&vm, &moons, Split::Test, 4, 0, 50, None, &cpu()).is_err());
    Ok(())
}
