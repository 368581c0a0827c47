//! Numerics of a loaded flow against the fixture's closed form, determinism, batching and threads.

mod common;

use std::sync::Arc;

use common::{bundle, closed_form, cpu, pixels};
use realnvp_runtime::{DataKind, Flow, LoadOptions, Provider};

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1.0)
}

#[test]
fn image_log_prob_and_z_match_closed_form() {
    let flow = Flow::load(bundle(&[]), &cpu()).unwrap();
    assert_eq!(flow.data_kind(), DataKind::Image);
    assert_eq!(flow.data_shape().dims(), [1, 4, 4]);
    assert_eq!(flow.latent_dim(), 16);
    let n = 5;
    let x = pixels(n, 16, 7);
    let enc = flow.encode(&x, n).unwrap();
    assert_eq!(
        (enc.z.len(), enc.log_prob.len(), enc.bits_per_dim.len()),
        (n * 16, n, n)
    );
    for i in 0..n {
        let (z, lp) = closed_form(&x[i * 16..(i + 1) * 16], true);
        assert!(
            rel(f64::from(enc.log_prob[i]), lp) < 1e-5,
            "item {i}: {} vs {lp}",
            enc.log_prob[i]
        );
        let bpd = -lp / (16.0 * std::f64::consts::LN_2);
        assert!(rel(f64::from(enc.bits_per_dim[i]), bpd) < 1e-5);
        for (k, zk) in z.iter().enumerate() {
            assert!(
                (f64::from(enc.z[i * 16 + k]) - zk).abs() < 1e-4,
                "z[{i},{k}]"
            );
        }
    }
}

#[test]
fn vector_log_prob_matches_closed_form_and_round_trips() {
    let flow = Flow::load(bundle(&["--kind", "vector"]), &cpu()).unwrap();
    assert_eq!(flow.data_kind(), DataKind::Vector);
    let x = vec![0.3f32, -1.2, 2.5, 0.0, -0.01, 0.02];
    let enc = flow.encode(&x, 3).unwrap();
    for i in 0..3 {
        let (_, lp) = closed_form(&x[i * 2..i * 2 + 2], false);
        assert!(
            rel(f64::from(enc.log_prob[i]), lp) < 1e-5,
            "{} vs {lp}",
            enc.log_prob[i]
        );
    }
    let back = flow.decode(&enc.z, 3).unwrap();
    for (a, b) in x.iter().zip(&back) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn decode_inverts_encode() {
    let flow = Flow::load(bundle(&["--shape", "3,4,5"]), &cpu()).unwrap();
    let n = 4;
    let x = pixels(n, 60, 3);
    let z = flow.encode(&x, n).unwrap().z;
    let back = flow.decode(&z, n).unwrap();
    let max_err = x
        .iter()
        .zip(&back)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max_err < 1e-3, "max |x - decode(encode(x))| = {max_err}");
}

#[test]
fn sampling_is_seeded_and_uses_the_temperature() {
    let flow = Flow::load(bundle(&[]), &cpu()).unwrap();
    let a = flow.sample(8, 0.7, 42).unwrap();
    assert_eq!(
        a,
        flow.sample(8, 0.7, 42).unwrap(),
        "same seed, same samples"
    );
    assert_ne!(
        a,
        flow.sample(8, 0.7, 43).unwrap(),
        "another seed, other samples"
    );
    assert_eq!(a.len(), 8 * 16);
    // The latent's spread is the temperature: drawn directly, and seen through the samples' own latents
    // (the fixture's latents at T = 0.5 lie far inside what the domain [0, 256] maps to, so decode projects
    // nothing away and encode recovers them).
    let spread =
        |z: &[f32]| (z.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / z.len() as f64).sqrt();
    let z = flow.sample_latent(4000, 0.5, 9).unwrap();
    let std = spread(&z);
    assert!((std - 0.5).abs() < 0.01, "latent std {std}, expected 0.5");
    let x = flow.sample(1000, 0.5, 10).unwrap();
    let std = spread(&flow.encode(&x, 1000).unwrap().z);
    assert!(
        (std - 0.5).abs() < 0.01,
        "the samples' latent std {std}, expected 0.5"
    );
}

#[test]
fn chunked_batches_agree_with_one_batch() {
    let dir = bundle(&[]);
    let whole = Flow::load(&dir, &cpu()).unwrap();
    let chunked = Flow::load(
        &dir,
        &LoadOptions {
            batch_size: 3,
            ..cpu()
        },
    )
    .unwrap();
    assert_eq!(chunked.batch_size(), 3);
    let n = 10;
    let x = pixels(n, 16, 11);
    let a = whole.encode(&x, n).unwrap();
    let b = chunked.encode(&x, n).unwrap();
    assert_eq!(a.log_prob.len(), n);
    assert_eq!(b.log_prob.len(), n);
    for (p, q) in a.log_prob.iter().zip(&b.log_prob) {
        assert!((p - q).abs() <= 1e-4 * p.abs(), "{p} vs {q}");
    }
    let xa = whole.decode(&a.z, n).unwrap();
    let xb = chunked.decode(&a.z, n).unwrap();
    for (p, q) in xa.iter().zip(&xb) {
        assert!((p - q).abs() < 1e-3);
    }
}

#[test]
fn eight_threads_give_bit_identical_results_to_one() {
    let flow = Arc::new(
        Flow::load(
            bundle(&[]),
            &LoadOptions {
                threads: Some(2),
                batch_size: 7,
                ..cpu()
            },
        )
        .unwrap(),
    );
    let n = 50;
    let x = Arc::new(pixels(n, 16, 5));
    let reference = flow.encode(&x, n).unwrap();
    let reference_samples = flow.sample(20, 0.8, 3).unwrap();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (flow, x) = (Arc::clone(&flow), Arc::clone(&x));
            std::thread::spawn(move || {
                (0..5)
                    .map(|_| {
                        (
                            flow.encode(&x, n).unwrap(),
                            flow.sample(20, 0.8, 3).unwrap(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for handle in handles {
        for (enc, samples) in handle.join().expect("thread panicked") {
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&enc.log_prob), bits(&reference.log_prob));
            assert_eq!(bits(&enc.z), bits(&reference.z));
            assert_eq!(bits(&samples), bits(&reference_samples));
        }
    }
}

#[test]
fn flow_is_send_and_sync_and_reports_cpu() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Flow>();
    let flow = Flow::load(bundle(&[]), &cpu()).unwrap();
    assert_eq!(flow.provider(), Provider::Cpu);
    assert_eq!(flow.provider().name(), "CPU");
    assert!(
        flow.library_path()
            .to_string_lossy()
            .contains("libonnxruntime")
    );
}

#[cfg(not(feature = "cuda"))]
#[test]
fn auto_without_cuda_feature_runs_on_cpu() {
    let flow = Flow::load(
        bundle(&[]),
        &LoadOptions {
            device: realnvp_runtime::Device::Auto,
            ..cpu()
        },
    )
    .unwrap();
    assert_eq!(flow.provider(), Provider::Cpu);
}

#[test]
fn metadata_is_exposed() {
    let flow = Flow::load(bundle(&["--kind", "vector"]), &cpu()).unwrap();
    let m = flow.metadata();
    assert_eq!(m.format_version, realnvp_runtime::FORMAT_VERSION);
    assert_eq!(m.pair_id.len(), 32);
    assert_eq!(m.data_shape, realnvp_runtime::DataShape::Vector { dim: 2 });
    assert_eq!(m.preprocessing["kind"], "standardize");
    assert_eq!(m.training["dataset"], "fixture");
    assert!(m.export_errors.is_object());
}

/// With the `cuda` feature, `Auto` never fails: it runs on CUDA when the library has it, else on CPU.
#[cfg(feature = "cuda")]
#[test]
fn auto_with_cuda_feature_falls_back_or_uses_cuda() {
    let flow = Flow::load(
        bundle(&[]),
        &LoadOptions {
            device: realnvp_runtime::Device::Auto,
            ..cpu()
        },
    )
    .unwrap();
    let x = pixels(2, 16, 1);
    let (_, lp) = closed_form(&x[..16], true);
    assert!(
        rel(f64::from(flow.log_prob(&x, 2).unwrap()[0]), lp) < 1e-4,
        "{}",
        flow.provider()
    );
}

/// `interpolate` walks the great circle between the two latents, checked by what defines it rather than by
/// its formula: with ends whose latents have the same norm r, every point's latent (recovered by encoding the
/// decoded point) has norm r (a straight line would pass inside the sphere, r·cos(Ω/2) at its middle), lies in
/// the plane of the ends' latents, and the angles between consecutive points are equal, Ω/(steps - 1) each.
/// The ends are the inputs.
#[test]
fn interpolation_is_spherical_in_latent_space() {
    let flow = Flow::load(bundle(&[]), &cpu()).unwrap();
    // Ends chosen in latent space and mapped to pixels by the fixture's closed form (z = (x/256 - 0.5)·a + b):
    // za has entries in [-2.5, 2.5]; zb is 0.8·za plus another such vector, scaled to za's norm (about 50°
    // from za, entries below 3.5), so both ends and the whole path decode inside the domain (|z - b| < |a|/2),
    // with no projection on the way.
    let (coef_a, coef_b) = common::coefficients(16);
    let wave = |f: f64, phase: f64| -> Vec<f64> {
        (0..16)
            .map(|k| 2.5 * (k as f64 * f + phase).sin())
            .collect()
    };
    let za = wave(1.7, 0.4);
    let zb: Vec<f64> = za
        .iter()
        .zip(wave(0.9, 2.0))
        .map(|(x, y)| 0.8 * x + y)
        .collect();
    let scale =
        (za.iter().map(|v| v * v).sum::<f64>() / zb.iter().map(|v| v * v).sum::<f64>()).sqrt();
    let zb: Vec<f64> = zb.iter().map(|v| v * scale).collect();
    let to_pixels = |z: &[f64]| -> Vec<f32> {
        (0..16)
            .map(|k| (((z[k] - coef_b[k]) / coef_a[k] + 0.5) * 256.0) as f32)
            .collect()
    };
    let (a, b) = (to_pixels(&za), to_pixels(&zb));
    assert!(a.iter().chain(&b).all(|&v| (1.0..255.0).contains(&v)));
    let steps = 7;
    let path = flow.interpolate(&a, &b, steps).unwrap();
    let z: Vec<Vec<f64>> = flow
        .encode(&path, steps)
        .unwrap()
        .z
        .chunks(16)
        .map(|c| c.iter().map(|&v| f64::from(v)).collect())
        .collect();
    let dot = |u: &[f64], v: &[f64]| -> f64 { u.iter().zip(v).map(|(x, y)| x * y).sum() };
    let norm = |u: &[f64]| dot(u, u).sqrt();
    let angle = |u: &[f64], v: &[f64]| (dot(u, v) / (norm(u) * norm(v))).clamp(-1.0, 1.0).acos();
    let r = norm(&za);
    let omega = angle(&za, &zb);
    assert!(
        (norm(&zb) - r).abs() < 1e-9 && omega > 0.5 && omega < 2.6,
        "ends: Ω = {omega}"
    );
    // An orthonormal basis of the ends' plane, for the distance of each point from it.
    let e1: Vec<f64> = za.iter().map(|v| v / r).collect();
    let along = dot(&zb, &e1);
    let rest: Vec<f64> = zb.iter().zip(&e1).map(|(v, e)| v - along * e).collect();
    let e2: Vec<f64> = rest.iter().map(|v| v / norm(&rest)).collect();
    for (i, zi) in z.iter().enumerate() {
        assert!(
            (norm(zi) - r).abs() < 1e-3 * r,
            "point {i}: norm {} off the sphere of radius {r}",
            norm(zi)
        );
        let (c1, c2) = (dot(zi, &e1), dot(zi, &e2));
        let off: f64 = zi
            .iter()
            .zip(e1.iter().zip(&e2))
            .map(|(v, (p, q))| (v - c1 * p - c2 * q).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(off < 1e-3 * r, "point {i}: {off} off the plane of the ends");
        let from_a = angle(&za, zi);
        let want = omega * i as f64 / (steps - 1) as f64;
        assert!(
            (from_a - want).abs() < 1e-3,
            "point {i}: {from_a} rad from the first end, want {want}"
        );
    }
    for pair in z.windows(2) {
        let step = angle(&pair[0], &pair[1]);
        let want = omega / (steps - 1) as f64;
        assert!(
            (step - want).abs() < 1e-3,
            "consecutive points {step} rad apart, want {want}"
        );
    }
    for (got, want) in path[..16]
        .iter()
        .zip(&a)
        .chain(path[(steps - 1) * 16..].iter().zip(&b))
    {
        assert!((got - want).abs() < 1e-2, "{got} vs {want}");
    }
    assert!(flow.interpolate(&a, &b, 1).is_err());
}
