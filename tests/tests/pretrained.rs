//! The committed pretrained bundle (`pretrained/fmnist/`) against the committed run it
//! was exported from: ONNX Runtime scores the first Fashion-MNIST test images (the embedded
//! slice) as candle scores them with the run's weights, the bundle's recorded test figures are
//! those of the run, decode inverts encode to the pixel, bits/dim is -log p / (784 ln 2), and
//! its samples are images that it scores about as likely as test images. A regression in runtime
//! scoring, or a bundle and run that drift apart, fails here.

use candle_core::Device;
use realnvp_bundle::pixels;
use realnvp_models::Mode;
use realnvp_runtime::Flow;
use realnvp_trainer::data::{EvalNoise, Split};
use realnvp_trainer::run;

type Result<T> = anyhow::Result<T>;

fn pretrained() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../pretrained")
}

#[test]
fn pretrained_bundle_scores_what_its_run_scores() -> Result<()> {
    let dir = pretrained();
    let flow = Flow::load(dir.join("fmnist"), &realnvp_e2e::cpu())?;
    let loaded = run::load_run(&dir.join("runs/fmnist"), &Device::Cpu)?;
    assert_eq!(
        flow.metadata().config,
        serde_json::to_value(loaded.model.config())?,
        "the bundle was exported from another config than the committed run's"
    );
    let data = run::load_data("embedded", loaded.model.config(), 0)?;
    let n = 128;
    let x = data.eval_batch(Split::Test, 0, n, EvalNoise::Midpoint, &Device::Cpu)?;
    let candle = loaded.model.log_prob(&x, Mode::Eval)?.to_vec1::<f32>()?;
    let ort = flow
        .encode(&x.flatten_all()?.to_vec1::<f32>()?, n)?
        .log_prob;
    let worst = candle
        .iter()
        .zip(&ort)
        .map(|(a, b)| (a - b).abs() / a.abs().max(1.0))
        .fold(0f32, f32::max);
    assert!(
        worst < 1e-4,
        "ONNX Runtime and candle disagree on the pretrained model by {worst:.2e} (relative log_prob): re-export pretrained/fmnist from pretrained/runs/fmnist"
    );
    let bpd: f64 =
        ort.iter().map(|&lp| -lp as f64).sum::<f64>() / (n as f64 * 784.0 * std::f64::consts::LN_2);
    assert!(
        bpd < 4.0,
        "{bpd:.4} bits/dim at u = 0.5: not a trained model"
    );
    // Pinned: ONNX Runtime's bits/dim of the committed bundle on the whole embedded test slice (the first
    // 1,000 Fashion-MNIST test images) at u = 0.5, as measured when the bundle was exported (run 16,000 of
    // 16,000; full-test-set figures in model.json). A change in export or runtime scoring moves it; a
    // re-export of pretrained/fmnist must update it.
    const PINNED_BITS_PER_DIM: f64 = 2.88038;
    let all = data.len_test();
    let x = data.eval_batch(Split::Test, 0, all, EvalNoise::Midpoint, &Device::Cpu)?;
    let bits = flow.bits_per_dim(&x.flatten_all()?.to_vec1::<f32>()?, all)?;
    let slice_bpd = bits.iter().map(|&b| f64::from(b)).sum::<f64>() / all as f64;
    println!(
        "pretrained bundle: {slice_bpd:.5} bits/dim (u = 0.5) on the {all} embedded test images"
    );
    assert!(
        (slice_bpd - PINNED_BITS_PER_DIM).abs() < 1e-3,
        "{slice_bpd:.5} bits/dim on the embedded test slice, pinned at {PINNED_BITS_PER_DIM}"
    );
    // The test images are u8 pixels at their bin centres; decode(encode(x)) gives each back within
    // 1e-2 (pixel units), so every pixel quantizes back to itself.
    let x = x.flatten_all()?.to_vec1::<f32>()?;
    let encoded = flow.encode(&x, all)?;
    let back = flow.decode(&encoded.z, all)?;
    let worst = realnvp_e2e::max_abs_gap(&x, &back);
    assert!(worst < 1e-2, "decode(encode(x)) off by {worst} pixel units");
    assert!(
        x.iter()
            .zip(&back)
            .all(|(&a, &b)| pixels::quantize(a) == pixels::quantize(b)),
        "a test pixel quantizes to another level after decode(encode(x))"
    );
    // Bits per dimension is -log p(x) / (784 ln 2), computed here from the graph's log_prob.
    for (&bits, &lp) in encoded.bits_per_dim.iter().zip(&encoded.log_prob) {
        let want = -f64::from(lp) / (784.0 * std::f64::consts::LN_2);
        assert!(
            (f64::from(bits) - want).abs() < 1e-5 * want.max(1.0),
            "{bits} bits/dim for log p = {lp} (want {want})"
        );
    }
    // Samples at T = 0.7 are images: pixels in [0, 256], which as u8 pixels at their bin centres the
    // model finds about as likely as test images (a broken inverse graph gives noise, > 6 bits/dim).
    let samples = flow.sample(16, 0.7, 3)?;
    assert!(
        samples.iter().all(|&v| pixels::in_domain(v)),
        "sampled pixels outside [0, 256]"
    );
    let centres: Vec<f32> = samples
        .iter()
        .map(|&v| pixels::dequantize(pixels::quantize(v)))
        .collect();
    let sample_bpd = flow
        .bits_per_dim(&centres, 16)?
        .iter()
        .map(|&b| f64::from(b))
        .sum::<f64>()
        / 16.0;
    println!("pretrained bundle: {sample_bpd:.3} bits/dim on 16 samples at T = 0.7, quantized");
    assert!(
        sample_bpd < 4.0,
        "{sample_bpd:.3} bits/dim on the model's own samples (T = 0.7): the inverse graph does not invert the forward one"
    );
    Ok(())
}
