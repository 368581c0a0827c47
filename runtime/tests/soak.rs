//! Soak: one `Flow` shared by 8 threads, each making 1,000 mixed score/sample calls, against a one-thread
//! reference, with the process's resident memory watched and the whole run under a deadline.
//!
//! This is the only test of its binary on purpose: the RSS it measures is the process's, and any other test
//! running beside it would move it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use common::{bundle, cpu, pixels};
use realnvp_runtime::{Flow, LoadOptions};

const THREADS: usize = 8;
const CALLS: usize = 1_000;
/// Calls per thread before the first RSS reading: allocator arenas (glibc makes one per thread), ONNX Runtime's
/// per-session buffers and the test's own buffers reach their working size here.
const WARM_UP: usize = 200;
/// The fixture's data shape: 3 × 8 × 8 = 192 values per item.
const SHAPE: &str = "3,8,8";
const PER_ITEM: usize = 192;
/// Items per ONNX Runtime call; the larger inputs below are split into chunks of this size.
const BATCH: usize = 24;
/// RSS may grow by at most this fraction between the end of the warm-up and the end of the run.
///
/// Why 5 %: this binary, with ONNX Runtime loaded and 8 threads, sits near 33 MB, and without a leak its RSS
/// moves by less than 0.1 % over the run (allocator noise). 5 % is 1.6 MB, so a leak of 200 bytes per call
/// (8,000 calls) fails the test; leaking the input of the smallest call (10 items of 192 f32, 7.7 KB) on the
/// two calls in eleven that take it added 11 MB (+31 %) when tried.
const MAX_RSS_GROWTH: f64 = 0.05;
/// The whole test's time limit (it takes a few seconds in release on 2 cores): a deadlock fails it instead
/// of hanging `make test`.
const DEADLINE: Duration = Duration::from_secs(120);

/// One call of the mix, with everything that fixes its result.
#[derive(Clone, Copy, Debug)]
enum Call {
    /// `encode` (z, log_prob and bits/dim) of input set `i`.
    Encode(usize),
    /// `bits_per_dim` of input set `i`.
    Score(usize),
    /// `sample(n, temperature, seed)`.
    Sample(usize, f32, u64),
    /// `decode` of latent set `i`.
    Decode(usize),
}

/// What a call returned, as bit patterns so that equality is bit-for-bit (and NaN equals itself).
type Bits = Vec<u32>;

fn bits(values: &[f32]) -> Bits {
    values.iter().map(|v| v.to_bits()).collect()
}

/// The fixed inputs of the mix.
struct Inputs {
    /// `(n, x)`: item counts below, at and above [`BATCH`], so that chunking is exercised.
    x: Vec<(usize, Vec<f32>)>,
    /// `(n, z)`: latents to decode.
    z: Vec<(usize, Vec<f32>)>,
}

impl Inputs {
    fn new(flow: &Flow) -> Self {
        let x = [10, 24, 61]
            .iter()
            .enumerate()
            .map(|(k, &n)| (n, pixels(n, PER_ITEM, 100 + k as u64)))
            .collect();
        let z = [(17, 0.5, 7), (50, 1.0, 8)]
            .iter()
            .map(|&(n, t, seed)| (n, flow.sample_latent(n, t, seed).expect("latents")))
            .collect();
        Inputs { x, z }
    }

    /// Every call of the mix, each once.
    fn calls(&self) -> Vec<Call> {
        let mut calls = Vec::new();
        for i in 0..self.x.len() {
            calls.push(Call::Encode(i));
            calls.push(Call::Score(i));
        }
        for (n, t, seed) in [(12, 0.7, 1), (40, 1.0, 2), (25, 0.3, 3)] {
            calls.push(Call::Sample(n, t, seed));
        }
        for i in 0..self.z.len() {
            calls.push(Call::Decode(i));
        }
        calls
    }

    /// Runs `call`; an error is reported as text, so that a failing call in a worker is a mismatch, not a
    /// panic that would leave the main thread waiting for its report.
    fn run(&self, flow: &Flow, call: Call) -> Result<Bits, String> {
        let result = match call {
            Call::Encode(i) => {
                let (n, x) = &self.x[i];
                flow.encode(x, *n).map(|e| {
                    let mut all = bits(&e.z);
                    all.extend(bits(&e.log_prob));
                    all.extend(bits(&e.bits_per_dim));
                    all
                })
            }
            Call::Score(i) => {
                let (n, x) = &self.x[i];
                flow.bits_per_dim(x, *n).map(|b| bits(&b))
            }
            Call::Sample(n, t, seed) => flow.sample(n, t, seed).map(|s| bits(&s)),
            Call::Decode(i) => {
                let (n, z) = &self.z[i];
                flow.decode(z, *n).map(|x| bits(&x))
            }
        };
        result.map_err(|e| format!("{call:?} failed: {e}"))
    }
}

/// The process's resident set size in kB (`VmRSS` of /proc/self/status).
fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// What a worker tells the main thread.
enum Report {
    Warm,
    /// The first mismatch with the reference in the measured calls, if any.
    Done {
        mismatch: Option<String>,
    },
}

/// Calls in progress across the threads, and the most there were at once: the soak tests sharing only
/// if the threads' calls did overlap.
#[derive(Default)]
struct Overlap {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Overlap {
    fn around<T>(&self, f: impl FnOnce() -> T) -> T {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let out = f();
        self.now.fetch_sub(1, Ordering::SeqCst);
        out
    }
}

/// Receives `count` reports (each accepted by `accept`), failing the test at `deadline`.
fn collect(
    rx: &mpsc::Receiver<(usize, Report)>,
    count: usize,
    deadline: Instant,
    what: &str,
    mut accept: impl FnMut(usize, Report),
) {
    for received in 0..count {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((thread, report)) => accept(thread, report),
            Err(RecvTimeoutError::Timeout) => panic!(
                "deadlock or stall: only {received} of {count} threads {what} within {DEADLINE:?}"
            ),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("a worker thread died (panicked) before it {what}")
            }
        }
    }
}

#[test]
fn eight_threads_of_mixed_calls_on_one_flow_match_one_thread_without_growing() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Flow>();
    let start = Instant::now();
    let deadline = start + DEADLINE;

    // Two intra-op threads: ONNX Runtime splits a kernel's work by the thread count, which is fixed per session,
    // so results do not depend on timing or on which caller runs; the reference uses the same session.
    let options = LoadOptions {
        threads: Some(2),
        batch_size: BATCH,
        ..cpu()
    };
    let flow =
        Arc::new(Flow::load(bundle(&["--shape", SHAPE]), &options).expect("loading the fixture"));
    assert_eq!(flow.latent_dim(), PER_ITEM);
    let inputs = Arc::new(Inputs::new(&flow));
    let calls = inputs.calls();
    // A prime number of calls, so that every thread's stride (1..=8) visits all of them.
    assert_eq!(calls.len(), 11);
    // The reference: every call once, from this one thread.
    let reference: Arc<Vec<Result<Bits, String>>> =
        Arc::new(calls.iter().map(|&c| inputs.run(&flow, c)).collect());
    if let Some(Err(e)) = reference.iter().find(|r| r.is_err()) {
        panic!("the one-thread reference failed: {e}");
    }
    let calls = Arc::new(calls);
    let overlap = Arc::new(Overlap::default());

    let (tx, rx) = mpsc::channel::<(usize, Report)>();
    let mut go = Vec::new();
    let mut handles = Vec::new();
    for thread in 0..THREADS {
        let (flow, inputs, reference, calls, overlap, tx) = (
            Arc::clone(&flow),
            Arc::clone(&inputs),
            Arc::clone(&reference),
            Arc::clone(&calls),
            Arc::clone(&overlap),
            tx.clone(),
        );
        let (go_tx, go_rx) = mpsc::channel::<()>();
        go.push(go_tx);
        handles.push(std::thread::spawn(move || {
            // Each thread walks the mix in its own order (a different stride and start), so at any moment the
            // threads are making different calls.
            let stride = thread + 1;
            let pick = |k: usize| (thread * 5 + k * stride) % calls.len();
            let mut mismatch = None;
            for k in 0..WARM_UP {
                let i = pick(k);
                if inputs.run(&flow, calls[i]) != reference[i] && mismatch.is_none() {
                    mismatch = Some(format!("warm-up call {k}: {:?}", calls[i]));
                }
            }
            if tx.send((thread, Report::Warm)).is_err() || go_rx.recv().is_err() {
                return;
            }
            for k in WARM_UP..WARM_UP + CALLS {
                let i = pick(k);
                let result = overlap.around(|| inputs.run(&flow, calls[i]));
                if result != reference[i] && mismatch.is_none() {
                    mismatch = Some(format!("call {k}: {:?}", calls[i]));
                }
            }
            let _ = tx.send((thread, Report::Done { mismatch }));
            // Stay alive (stack and arena in place) until the final RSS reading.
            let _ = go_rx.recv();
        }));
    }
    drop(tx);

    collect(&rx, THREADS, deadline, "finished the warm-up", |_, r| {
        assert!(matches!(r, Report::Warm));
    });
    let rss_warm = rss_kb();
    for g in &go {
        g.send(()).expect("worker alive");
    }
    let mut mismatches = Vec::new();
    collect(
        &rx,
        THREADS,
        deadline,
        "finished their calls",
        |thread, r| {
            let Report::Done { mismatch } = r else {
                panic!("thread {thread} reported twice");
            };
            mismatches.extend(mismatch.map(|m| format!("thread {thread}, {m}")));
        },
    );
    let rss_end = rss_kb();
    drop(go);
    for h in handles {
        h.join().expect("worker panicked");
    }

    let growth = (rss_end as f64 - rss_warm as f64) / rss_warm as f64;
    let total = THREADS * CALLS;
    let most = overlap.most.load(Ordering::SeqCst);
    eprintln!(
        "soak: {THREADS} threads x {CALLS} calls = {total} calls (+ {} warm-up) in {:.1} s, at most {most} \
         at once; RSS {rss_warm} kB after warm-up, {rss_end} kB at the end ({:+.2} %)",
        THREADS * WARM_UP,
        start.elapsed().as_secs_f64(),
        100.0 * growth
    );
    assert!(
        mismatches.is_empty(),
        "results differ from the one-thread reference: {mismatches:?}"
    );
    // The threads did share the flow: calls of different threads were in progress at the same time (a
    // thread waiting for a graph's lock counts). Run one after another, the soak would test nothing shared.
    assert!(
        most >= 2,
        "at most {most} call in progress at once: the {THREADS} threads never overlapped"
    );
    assert!(
        growth <= MAX_RSS_GROWTH,
        "RSS grew {:.2} % ({rss_warm} kB -> {rss_end} kB) over {total} calls, more than {:.0} %: a leak",
        100.0 * growth,
        100.0 * MAX_RSS_GROWTH
    );
}
