//! The progress bar of `trainer fit`, and log lines printed around it.

use std::io::Write;

use indicatif::{ProgressBar, ProgressDrawTarget};
use realnvp_trainer::eval::Score;
use realnvp_trainer::train::{Observer, StepReport};
use tracing_subscriber::fmt::MakeWriter;

use crate::STOP;

/// Sends log lines around the progress bar so they do not tear it.
#[derive(Clone)]
pub(crate) struct BarWriter(pub(crate) ProgressBar);

pub(crate) struct BarLine {
    bar: ProgressBar,
    buf: Vec<u8>,
}

impl Write for BarLine {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let buf = std::mem::take(&mut self.buf);
            self.bar.suspend(|| std::io::stderr().write_all(&buf))?;
        }
        Ok(())
    }
}

impl Drop for BarLine {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

impl<'a> MakeWriter<'a> for BarWriter {
    type Writer = BarLine;
    fn make_writer(&'a self) -> BarLine {
        BarLine {
            bar: self.0.clone(),
            buf: Vec::new(),
        }
    }
}

pub(crate) struct Progress {
    bar: ProgressBar,
    started: std::time::Instant,
    start_step: u64,
}

impl Progress {
    /// A progress report on `bar`, timed from now.
    pub(crate) fn new(bar: ProgressBar) -> Self {
        Progress {
            bar,
            started: std::time::Instant::now(),
            start_step: 0,
        }
    }
}

impl Observer for Progress {
    fn stop_requested(&self) -> bool {
        STOP.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn on_start(&mut self, step: u64, total: u64) {
        self.bar.set_length(total);
        self.bar.set_position(step);
        self.start_step = step;
        self.bar.reset_eta();
        self.bar.set_draw_target(ProgressDrawTarget::stderr());
    }
    fn on_step(&mut self, r: &StepReport) {
        self.bar.set_position(r.step);
        let rate = if r.examples_per_s > 0.0 {
            format!("{:.0} ex/s", r.examples_per_s)
        } else {
            let done = (r.step - self.start_step) as f64;
            format!(
                "~{:.0} steps/s",
                done / self.started.elapsed().as_secs_f64().max(1e-9)
            )
        };
        self.bar.set_message(format!(
            "epoch {} loss {:.4} bpd {:.4} {rate}{}",
            r.epoch,
            r.loss,
            r.bits_per_dim,
            if r.skipped { " (skipped)" } else { "" }
        ));
    }
    fn on_eval(&mut self, step: u64, s: &Score) {
        self.bar.println(format!(
            "step {step}: test {:.4} bits/dim (u = 0.5), {:.4} nats/example",
            s.bits_per_dim, s.nll_nats
        ));
    }
}
